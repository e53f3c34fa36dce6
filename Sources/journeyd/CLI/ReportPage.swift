import Glibc
import JourneyCore
import JourneyProtocol
import JourneyStore

extension CLI {
    /// `journeyd report --html FILE [--from T] [--to T] [--title TEXT]`: the HTML report of the
    /// practice (`HTMLReport`), from the same answers the report commands give, written to FILE
    /// (mode 0600, replaced at once).
    ///
    /// The period defaults to the twelve calendar months (UTC) up to and including the current
    /// one; the funnel is the default funnel over the whole history.
    static func reportCommand(_ args: Arguments, dir: String) throws -> Int32 {
        guard let path = args.value("html") else { throw UsageError("--html FILE is required") }
        guard args.positional.isEmpty else { throw UsageError("unexpected argument '\(args.positional[0])'") }
        let now = Clock.nowMs()
        let to = try time(args, "to") ?? ReportPeriod.monthStart(now, offset: 1)
        let from = try time(args, "from") ?? ReportPeriod.monthStart(to - 1, offset: -11)
        guard from < to else { throw UsageError("--from must be before --to") }

        let page = try reportPage(dir: dir, as: try requester(args), title: args.value("title") ?? "Practice report", now: now, from: from, to: to)
        try writePrivateFile(path, Array(page.utf8))
        Output.line("wrote \(path) (\(page.utf8.count) bytes)")
        return Exit.ok
    }

    /// The HTML report of the store in `dir` (through its daemon when one serves it) for the
    /// period `[from, to)`.
    static func reportPage(dir: String, as requester: Requester, title: String, now: Int64, from: Int64, to: Int64) throws -> String {
        func ask(_ op: String, _ members: [JSONMember]) throws -> JSONValue {
            let request: Request
            do {
                request = try Request.decode(op: op, .object([JSONMember("op", .string(op))] + members))
            } catch {
                throw failure(error)
            }
            let line = try Gateway.request(dir: dir, request, as: requester)
            let answer: JSONValue
            do {
                answer = try JSONParser.parse(line)
            } catch {
                throw CommandFailure(Exit.store, "\(op): the answer is not JSON")
            }
            guard answer["ok"]?.boolValue == true else {
                let message = answer["error"]?["message"]?.stringValue ?? "refused"
                throw CommandFailure(Exit.store, "\(op): \(message)")
            }
            return answer
        }
        let period = [JSONMember("from", .number(JSONNumber(from))), JSONMember("to", .number(JSONNumber(to)))]
        return HTMLReport(
            title: title, generatedAt: now, from: from, to: to,
            funnel: try ask("funnel", []),
            inquiryTrend: try ask("trends", period + [JSONMember("step", .string("inquiry")),
                                                       JSONMember("interval", .string("month")), JSONMember("by", .string("channel"))]),
            visitTrend: try ask("trends", period + [JSONMember("step", .string("visit")),
                                                     JSONMember("interval", .string("month")), JSONMember("by", .string("location"))]),
            cohorts: try ask("cohorts", period),
            appointments: try ask("appointments", period + [JSONMember("by", .string("location"))])
        ).render()
    }

    /// Writes `bytes` to `path` with mode 0600 whatever the umask: to a temporary file beside
    /// it, then renamed over it, so a reader never sees half a page.
    static func writePrivateFile(_ path: String, _ bytes: [UInt8]) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CommandFailure(Exit.store, "cannot write \(path): \(String(cString: strerror(errno)))") }
        var ok = fchmod(fd, 0o600) == 0
        var offset = 0
        while ok && offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false } else { offset += n }
        }
        ok = ok && fsync(fd) == 0
        let error = errno
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(ok ? errno : error))
            unlink(temporary)
            throw CommandFailure(Exit.store, "cannot write \(path): \(reason)")
        }
    }
}

/// Calendar months for the report's default period.
enum ReportPeriod {
    /// The start (UTC) of the month `offset` months after the one holding `ms`.
    static func monthStart(_ ms: Int64, offset: Int64) -> Int64 {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let (y, m, _) = Timestamp.civilFromDays(days)
        let index = y * 12 + (m - 1) + offset
        let year = index >= 0 ? index / 12 : (index - 11) / 12
        let month = index - year * 12 + 1
        return Timestamp.daysFromCivil(year: year, month: month, day: 1) * 86_400_000
    }
}
