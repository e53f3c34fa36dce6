import Glibc

/// Who reads, and why: what the read audit records with every answer that names patients.
///
/// Every read of the embedded API that names or lists patients takes one:
///
/// ```swift
/// let state = try engine.patient(id: "p-1", as: "billing-service")
/// let page = try engine.atRisk(as: AuditContext(actor: "outreach", reason: "weekly recall"))
/// ```
///
/// The user and process ids are this process's unless set (the daemon sets its client's).
public struct AuditContext: Sendable, Hashable, ExpressibleByStringLiteral {
    /// Who asks (a person, a service); nil only for a socket client that gave no `as`.
    public var actor: String?
    /// Why, if said.
    public var reason: String?
    /// The reader's user id.
    public var uid: UInt32
    /// The reader's process id.
    public var pid: Int32

    /// A reader named `actor`, in this process, with an optional `reason`.
    public init(actor: String, reason: String? = nil) {
        self.init(actor: Optional(actor), reason: reason)
    }

    /// A reader named `actor` (nil: unnamed), by default this process's user and process.
    package init(actor: String?, reason: String?, uid: UInt32 = getuid(), pid: Int32 = getpid()) {
        self.actor = actor
        self.reason = reason
        self.uid = uid
        self.pid = pid
    }

    /// A reader named by a string literal, in this process.
    public init(stringLiteral actor: String) {
        self.init(actor: actor)
    }
}
