/// Why a command got no answer. A server's error reply is not one of these: it is a
/// ``RESPValue/error(_:)`` answer.
public enum RedisError: Error, Equatable, Sendable {
    /// No connection is up (connecting, or backing off after a failure): the command was not sent.
    case unavailable
    /// No answer within the command's timeout.
    case timeout
    /// The connection closed, or broke, before the answer came.
    case connectionClosed
    /// The server sent bytes that are not RESP.
    case protocolError(String)
}
