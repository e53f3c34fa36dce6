#if SANITIZER_LOCKS
import JourneyProtocol

// ThreadSanitizer builds use a lock the sanitizer can see (see `SanitizerMutex`).
typealias Mutex<Value: ~Copyable> = SanitizerMutex<Value>
#endif
