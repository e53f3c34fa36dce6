/// Contact resolution per channel (SPEC §3.5).
public struct ContactsReport: Sendable, Hashable {
    /// The conversations that started (first contact) on one channel.
    public struct Row: Sendable, Hashable {
        /// The channel of the conversations' first contact.
        public var channel: Channel
        /// Conversations with at least one contact.
        public var conversations: Int
        /// Conversations with an event marked resolved.
        public var resolved: Int
        /// Conversations resolved by their first contact.
        public var firstContactResolved: Int
        /// Handoff events in those conversations.
        public var handoffs: Int
    }

    /// Channels with at least one conversation, sorted by name.
    public var channels: [Row]

    /// Writes the SPEC §5 object.
    package func writeJSON(into w: inout JSONWriter) {
        w.beginObject()
        w.key("channels")
        w.beginArray()
        for r in channels {
            w.beginObject()
            w.key("channel"); w.string(r.channel.name)
            w.key("conversations"); w.int(r.conversations)
            w.key("resolved"); w.int(r.resolved)
            w.key("first_contact_resolved"); w.int(r.firstContactResolved)
            w.key("handoffs"); w.int(r.handoffs)
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    /// The SPEC §5 object as text.
    public var json: String {
        var w = JSONWriter()
        writeJSON(into: &w)
        return w.string
    }
}

extension Projector {
    /// Contact resolution over every conversation of every cluster (SPEC §3.5).
    package func contacts() -> ContactsReport {
        struct Conversation {
            var firstContact = -1
            var firstResolved = -1
            var handoffs = 0
        }
        var rows = [ContactsReport.Row?](repeating: nil, count: Channel.allCases.count)
        var conversations: [UInt32: Conversation] = [:]
        var facts: [Fact] = []
        for root in roots {
            clusters[Int(root)].decodeFacts(into: &facts)
            conversations.removeAll(keepingCapacity: true)
            for (i, f) in facts.enumerated() where f.conversation != 0 {
                var c = conversations[f.conversation] ?? Conversation()
                if c.firstContact < 0, f.type.isContact { c.firstContact = i }
                if c.firstResolved < 0, f.isResolved { c.firstResolved = i }
                if f.type == .handoff { c.handoffs += 1 }
                conversations[f.conversation] = c
            }
            for c in conversations.values where c.firstContact >= 0 {
                guard let ch = facts[c.firstContact].effectiveChannel else { continue }
                var row = rows[Int(ch.rawValue)]
                    ?? .init(channel: ch, conversations: 0, resolved: 0, firstContactResolved: 0, handoffs: 0)
                row.conversations += 1
                if c.firstResolved >= 0 { row.resolved += 1 }
                if c.firstResolved == c.firstContact { row.firstContactResolved += 1 }
                row.handoffs += c.handoffs
                rows[Int(ch.rawValue)] = row
            }
        }
        let present = rows.compactMap { $0 }.sorted { $0.channel.name.bytesLess($1.channel.name) }
        return ContactsReport(channels: present)
    }
}
