/// Reads FHIR `Reference` values (`{"reference":"Patient/123","display":"…"}`).
enum FHIRReference {
    /// The relative reference `Type/id` of `reference` when it names a resource of one of `types`:
    /// a relative reference, or an absolute URL ending in one (a version suffix `/_history/n`
    /// is dropped). nil for anything else (`urn:uuid:…`, a fragment `#…`, another type).
    static func relative(_ reference: String, types: [String]) -> String? {
        var parts = reference.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count >= 4, parts[parts.count - 2] == "_history" { parts.removeLast(2) }
        guard parts.count >= 2 else { return nil }
        let type = parts[parts.count - 2]
        let id = parts[parts.count - 1]
        guard types.contains(type), !id.isEmpty else { return nil }
        return "\(type)/\(id)"
    }

    /// The `reference` string of a Reference object, nil when absent or not a string.
    static func reference(of value: JSONValue?) -> String? {
        value?["reference"]?.stringValue
    }

    /// A non-empty `display` of a Reference object.
    static func display(of value: JSONValue?) -> String? {
        guard let d = value?["display"]?.stringValue, !d.isEmpty else { return nil }
        return d
    }
}
