/// A first-in first-out queue on one array: `pop` moves a head index instead of shifting the
/// array, and the consumed front is dropped when the queue empties, or once it holds at least
/// `compactAfter` entries and half the array.
struct ArrayQueue<Element> {
    private var items: [Element] = []
    private var head = 0
    private let compactAfter: Int

    init(compactAfter: Int) {
        self.compactAfter = compactAfter
    }

    var isEmpty: Bool { head == items.count }

    mutating func push(_ element: Element) {
        items.append(element)
    }

    /// Removes and returns the oldest element; the queue must not be empty.
    mutating func pop() -> Element {
        let element = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= compactAfter && head * 2 >= items.count {
            items.removeSubrange(0..<head)
            head = 0
        }
        return element
    }
}
