/// A checked stored event with its strings interned ahead of the fold (by
/// `FoldPreparation.prepare`), for `Projector.apply(_: PreparedEventView)`.
package struct PreparedEventView {
    let view: EventView
    let subject: UInt32
    /// `Fact.none` when the event names no patient or referrer.
    let other: UInt32
    let values: Projector.FieldValues
}
