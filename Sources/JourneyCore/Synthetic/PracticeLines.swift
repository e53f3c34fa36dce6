/// A synthetic practice as NDJSON lines (each ending in a newline), in arrival order: the
/// events of `PracticeGenerator` in their canonical JSON form, except that the field shape
/// writes the `at` of every other line (the first, third, …) as epoch milliseconds.
package struct PracticeLines: Sequence, IteratorProtocol {
    private var generator: PracticeGenerator
    private var index = 0

    package init(_ options: PracticeGenerator.Options) {
        generator = PracticeGenerator(options)
    }

    package mutating func next() -> [UInt8]? {
        guard let e = generator.next() else { return nil }
        defer { index += 1 }
        var w = JSONWriter()
        EventJSON.write(e, into: &w, atAsEpochMs: generator.options.shape == .field && index % 2 == 0)
        var line = w.bytes
        line.append(10)
        return line
    }
}
