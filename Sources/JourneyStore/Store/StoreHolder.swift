import JourneyCore
import JourneyProtocol

// The writing side of the store's lock record (`StoreHolder`, read by clients through
// JourneyProtocol): what the holder writes, and the program name it records.

extension StoreHolder {
    /// The record as written to the lock file: one JSON object and a newline.
    package var encoded: [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("pid"); w.int(Int64(pid))
        w.key("program"); w.string(program)
        if let socket { w.key("socket"); w.string(socket) }
        w.key("started"); w.time(ms: startedAt)
        w.key("started_ms"); w.int(startedAt)
        w.endObject()
        return w.bytes + [UInt8(ascii: "\n")]
    }

    /// This process's name and its command: the program's file name, followed by its first
    /// argument when that is a word (`journeyd import`), since one binary may run many roles.
    public static var currentProgram: String {
        let arguments = CommandLine.arguments
        let name = arguments.first.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "unknown"
        if arguments.count > 1, let command = arguments.dropFirst().first, !command.isEmpty,
           command.utf8.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "-") }),
           command.first != "-" {
            return name + " " + command
        }
        return name
    }
}
