/// The gateway's version, printed by `portcullis --version`.
public enum PortcullisVersion {
    public static let current = "0.3.0"
}
