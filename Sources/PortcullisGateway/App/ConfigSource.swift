import Foundation
import PortcullisConfig

/// Where the config comes from.
public enum ConfigSource: Sendable {
    case file(String)
    case yaml(String)
    /// The embedded quickstart.
    case quickstart
}
