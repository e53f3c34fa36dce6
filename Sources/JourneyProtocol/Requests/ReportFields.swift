import JourneyCore

/// The members the practice-report requests (SPEC §3.6) read besides those of `RequestFields`.
extension RequestFields {
    /// A time that must be present.
    static func requiredTime(_ r: JSONValue, _ key: String) throws(ProtocolError) -> Int64 {
        guard let t = try time(r, key) else {
            throw ProtocolError.badRequest("\"\(key)\" is required: an RFC 3339 time or epoch milliseconds")
        }
        return t
    }

    static func bool(_ r: JSONValue, _ key: String) throws(ProtocolError) -> Bool? {
        guard let v = r[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw ProtocolError.badRequest("\"\(key)\" must be true or false") }
        return b
    }

    /// A count in `range`.
    static func int(_ r: JSONValue, _ key: String, in range: ClosedRange<Int64>) throws(ProtocolError) -> Int? {
        guard let n = try int(r, key) else { return nil }
        guard range.contains(n) else {
            throw ProtocolError.badRequest("\"\(key)\" must be \(range.lowerBound) to \(range.upperBound), got \(n)")
        }
        return Int(n)
    }

    /// A list of names, as an array of strings or one comma-separated string, each one of
    /// `parse`'s; `kinds` names what they are in the error.
    static func names<T>(_ r: JSONValue, _ key: String, kinds: String, _ parse: (String) -> T?) throws(ProtocolError) -> [T]? {
        guard let v = r[key], !v.isNull else { return nil }
        var names: [String] = []
        if let s = v.stringValue {
            names = s.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        } else if let a = v.arrayValue {
            for x in a {
                guard let s = x.stringValue else { throw ProtocolError.badRequest("\"\(key)\" must be a list of names") }
                names.append(s)
            }
        } else {
            throw ProtocolError.badRequest("\"\(key)\" must be a list of names")
        }
        var out: [T] = []
        for n in names {
            guard let x = parse(n) else { throw ProtocolError.badRequest("\"\(key)\": unknown value \"\(n)\"; use \(kinds)") }
            out.append(x)
        }
        return out
    }

    /// One name of `parse`'s.
    static func name<T>(_ r: JSONValue, _ key: String, kinds: String, _ parse: (String) -> T?) throws(ProtocolError) -> T? {
        guard let s = try string(r, key) else { return nil }
        guard let x = parse(s) else { throw ProtocolError.badRequest("\"\(key)\": unknown value \"\(s)\"; use \(kinds)") }
        return x
    }

    /// The calendar of `tz` (default UTC).
    static func calendar(_ r: JSONValue) throws(ProtocolError) -> ReportCalendar {
        let name = try string(r, "tz") ?? "UTC"
        do {
            return try ReportCalendar(timeZone: name)
        } catch {
            throw ProtocolError.badRequest(error)
        }
    }

    /// The names of `cases`, for error messages.
    static func list<T>(_ cases: [T], _ name: (T) -> String) -> String {
        cases.map(name).joined(separator: ", ")
    }
}

extension ProtocolError {
    /// The `bad_request` of a report query refused by JourneyCore, naming the member.
    static func badRequest(_ e: ReportQueryError) -> ProtocolError { ProtocolError("bad_request", e.description) }
}
