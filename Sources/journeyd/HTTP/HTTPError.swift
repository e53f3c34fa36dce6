/// A request the server refuses, with the status to answer and why.
struct HTTPError: Error, Sendable, Hashable {
    /// The response status (400, 413, 431, 501, 505, …).
    var status: Int
    /// What is wrong, for the response body.
    var message: String

    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}
