package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError prints a one-line problem and the command's short usage to
// stderr and returns the usage exit code. command is the full command name,
// such as "ecsauthz check".
func usageError(stderr io.Writer, command, problem string, usage ...string) int {
	fmt.Fprintf(stderr, "%s: %s\n", command, problem)
	for _, line := range usage {
		fmt.Fprintln(stderr, line)
	}
	fmt.Fprintf(stderr, "Run \"%s -h\" for the flags.\n", command)
	return exitUsage
}

// printFlags prints the flags of fs whose names keep accepts, in the format
// of flag.PrintDefaults.
func printFlags(w io.Writer, fs *flag.FlagSet, keep func(name string) bool) {
	fs.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if name != "" {
			line += " " + name
		}
		usage = strings.ReplaceAll(usage, "\n", "\n    \t")
		fmt.Fprintf(w, "%s\n    \t%s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// count formats n with the singular or plural noun, such as "1 file" or
// "2 files".
func count(n int, singular, plural string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, singular)
	}
	return fmt.Sprintf("%d %s", n, plural)
}
