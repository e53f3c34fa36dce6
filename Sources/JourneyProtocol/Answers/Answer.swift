import JourneyCore

/// The envelope of every answer line: `{"ok":true,…}`, or `{"ok":false,"error":{…}}`.
///
/// Each answer type reads the members of an `ok` answer (`init(answer:)`); `decode` reads a
/// whole line into that type, or the daemon's error.
public enum Answer {
    /// The object of an `{"ok":true,…}` line, or the error of an `{"ok":false,…}` one.
    ///
    /// - Throws: `AnswerError` when the line is not JSON, has no boolean `ok`, or is an error
    ///   without a `code`.
    public static func parse(_ line: [UInt8]) throws(AnswerError) -> Result<JSONValue, ProtocolError> {
        let answer: JSONValue
        do {
            answer = try JSONParser.parse(line)
        } catch {
            throw AnswerError("not JSON: \(error)")
        }
        switch answer["ok"]?.boolValue {
        case true?:
            return .success(answer)
        case false?:
            guard let error = answer["error"], let e = ProtocolError(object: error) else {
                throw AnswerError("an error without a \"code\"")
            }
            return .failure(e)
        case nil:
            throw AnswerError("no \"ok\" member")
        }
    }

    /// A line read as a `T`, or the daemon's error.
    public static func decode<T: DecodableAnswer>(_ type: T.Type, from line: [UInt8]) throws(AnswerError) -> Result<T, ProtocolError> {
        switch try parse(line) {
        case .success(let object): .success(try T(answer: object))
        case .failure(let error): .failure(error)
        }
    }

    /// The object of an `{"ok":true,…}` line without its `ok` member: the members after it, as
    /// the daemon wrote them (what `journeyd … --json` prints).
    public static func object(of line: [UInt8]) -> [UInt8] {
        let ok = Array(#"{"ok":true"#.utf8)
        if line.starts(with: ok) {
            var rest = line.dropFirst(ok.count)
            if rest.first == UInt8(ascii: ",") { rest = rest.dropFirst() }
            return [UInt8(ascii: "{")] + rest
        }
        guard let members = (try? JSONParser.parse(line))?.objectValue else { return line }
        return Array(JSONValue.object(members.filter { $0.key != "ok" }).jsonText.utf8)
    }

    /// `{"ok":true, …}` with the members `body` writes.
    package static func ok(_ body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("ok"); w.bool(true)
        body(&w)
        w.endObject()
        return w.bytes
    }

    /// `{"ok":true, …}` with the members of the object `body` writes (SPEC §5 objects,
    /// flattened into the answer), preceded by the `stale` marker when there is one.
    package static func ok(stale: Stale?, object body: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter()
        body(&w)
        let object = w.bytes
        precondition(object.first == UInt8(ascii: "{"), "an answer is a JSON object")
        var out: [UInt8] = Array(#"{"ok":true"#.utf8)
        if let stale {
            var s = JSONWriter()
            stale.write(into: &s)
            out.append(contentsOf: Array(#","stale":"#.utf8))
            out.append(contentsOf: s.bytes)
        }
        if object.count > 2 { out.append(UInt8(ascii: ",")) }
        out.append(contentsOf: object.dropFirst())
        return out
    }
}

/// An answer type read from the object of an `{"ok":true,…}` line.
public protocol DecodableAnswer {
    /// Reads the members of an `ok` answer (members it does not know are ignored).
    init(answer: JSONValue) throws(AnswerError)
}

/// An answer type written as one `{"ok":true,…}` line.
public protocol EncodableAnswer {
    /// The answer line, without its newline.
    var line: [UInt8] { get }
}
