import Glibc

// A closed pipe (e.g. `journeyd export | head`) must not kill the process.
signal(SIGPIPE, SIG_IGN)
exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
