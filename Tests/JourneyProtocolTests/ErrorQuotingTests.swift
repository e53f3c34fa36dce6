import JourneyCore
import Testing
@testable import JourneyProtocol

@Suite("Offending values in protocol errors")
struct ErrorQuotingTests {
    /// A value of 100,000 characters.
    let long = String(repeating: "x", count: 100_000)

    @Test("an unknown op, funnel step or breakdown is quoted by its first 80 characters")
    func shortQuotes() {
        let prefix = "\"" + String(repeating: "x", count: 80) + "…\""
        for line in [#"{"op":"\#(long)"}"#, #"{"op":"funnel","steps":["touch","\#(long)"]}"#, #"{"op":"funnel","by":"\#(long)"}"#,
                     #"{"op":"ping","\#(long)":1,"\#(long)":2}"#] {
            do {
                _ = try Request.decode(Array(line.utf8))
                Issue.record("accepted")
            } catch {
                #expect(error.message.contains(prefix), "\(error.message.prefix(200))")
                #expect(error.message.utf8.count < 400)
            }
        }
    }

    @Test("control and bidirectional characters in a quoted value are escaped")
    func escapes() {
        do {
            _ = try Request.decode(Array(#"{"op":"a\u202Eb\u0007"}"#.utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.message.hasPrefix(#"unknown op "a\u202eb\u0007";"#))
        }
    }

    @Test("as and reason are checked")
    func requester() throws {
        #expect(try Requester(decoding: JSONParser.parse(Array(#"{"as":"dr-lee","reason":"visit"}"#.utf8)))
            == Requester(actor: "dr-lee", reason: "visit"))
        for bad in [#"{"as":""}"#, #"{"as":7}"#, #"{"reason":"a\u0000b"}"#, #"{"as":"\#(String(repeating: "a", count: 257))"}"#] {
            #expect(throws: ProtocolError.self) { try Requester(decoding: JSONParser.parse(Array(bad.utf8))) }
        }
        let line = Requester(actor: "a\"b", reason: nil).adding(to: Array(#"{"op":"ping"}"#.utf8))
        #expect(String(decoding: line, as: UTF8.self) == #"{"op":"ping","as":"a\"b"}"#)
        #expect(String(decoding: Requester(actor: "x").adding(to: Array("{}".utf8)), as: UTF8.self) == #"{"as":"x"}"#)
    }
}
