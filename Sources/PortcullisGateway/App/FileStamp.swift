import Atomics
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PortcullisConfig
import ServiceLifecycle
import UnixSignals

/// A file's identity for change detection.
struct FileStamp: Equatable, Sendable {
    var modified: Date?
    var size: Int?
    var inode: Int?

    init(_ path: String) {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        self.modified = attributes?[.modificationDate] as? Date
        self.size = (attributes?[.size] as? NSNumber)?.intValue
        self.inode = (attributes?[.systemFileNumber] as? NSNumber)?.intValue
    }
}
