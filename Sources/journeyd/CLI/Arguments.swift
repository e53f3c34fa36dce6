import JourneyCore

/// A usage error: exit code 2, message to stderr.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// The command line, split into a command, positional arguments and `--flag [value]` options.
///
/// Small on purpose: flags are declared per command, so an unknown flag or a missing value is a
/// usage error that names it.
struct Arguments {
    var command: String
    var positional: [String] = []
    private var values: [String: String] = [:]
    private var switches: Set<String> = []

    /// Parses `args` (without the program name). `valued` lists the flags that take a value;
    /// `switches` the flags that don't. Anything else starting with `--` is a usage error.
    init(_ args: [String], valued: Set<String>, switches allowedSwitches: Set<String>) throws(UsageError) {
        guard let first = args.first else { throw UsageError("no command given") }
        command = first
        var i = 1
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--") && a.count > 2 {
                var name = String(a.dropFirst(2))
                var inline: String?
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if valued.contains(name) {
                    if let inline {
                        values[name] = inline
                    } else {
                        guard i + 1 < args.count else { throw UsageError("--\(name) needs a value") }
                        values[name] = args[i + 1]
                        i += 1
                    }
                } else if allowedSwitches.contains(name) {
                    guard inline == nil else { throw UsageError("--\(name) takes no value") }
                    switches.insert(name)
                } else {
                    throw UsageError("unknown option --\(name) for '\(command)'")
                }
            } else {
                positional.append(a)
            }
            i += 1
        }
    }

    func value(_ name: String) -> String? { values[name] }
    func flag(_ name: String) -> Bool { switches.contains(name) }

    func int(_ name: String) throws(UsageError) -> Int? {
        guard let v = values[name] else { return nil }
        guard let n = Int(v), n >= 0 else { throw UsageError("--\(name): expected a whole number ≥ 0, got \(Quote.short(v))") }
        return n
    }

    /// Parses a duration: `30d`, `12h`, `15m`, `90s` or plain seconds. Returns milliseconds.
    static func durationMs(_ text: String) -> Int64? {
        guard let last = text.last else { return nil }
        let unit: Int64
        var digits = Substring(text)
        switch last {
        case "d": unit = 86_400_000; digits = digits.dropLast()
        case "h": unit = 3_600_000; digits = digits.dropLast()
        case "m": unit = 60_000; digits = digits.dropLast()
        case "s": unit = 1000; digits = digits.dropLast()
        default: unit = 1000
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(digits),
              n <= Int64.max / unit else { return nil }
        return n * unit
    }

    func duration(_ name: String) throws(UsageError) -> Int64? {
        guard let v = values[name] else { return nil }
        guard let ms = Arguments.durationMs(v) else {
            throw UsageError("--\(name): expected a duration like 30d, 12h, 15m, 90s or seconds, got \(Quote.short(v))")
        }
        return ms
    }
}
