/// A stored event checked for folding: a well-formed record (`EventView(validating:)`) whose
/// strings are valid UTF-8 (`validateUTF8()`), the two checks `Projector.apply(_: EventView)`
/// makes. Checking can run on one thread and folding on another (a replay reads and checks
/// records ahead of the fold); the view is valid as long as the bytes it views.
package struct CheckedEventView {
    let view: EventView

    /// Checks the strings of a well-formed record.
    ///
    /// - Throws: `EventRecord.DecodeError` when a string is not valid UTF-8.
    @inline(__always)
    package init(_ view: EventView) throws(EventRecord.DecodeError) {
        try view.validateUTF8()
        self.view = view
    }
}
