// Package procstat reads CPU time and peak resident memory of a process from
// the Linux /proc file system.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// DefaultClockTicks is the USER_HZ value of Linux on x86-64 and arm64, the
// unit of the utime and stime fields of /proc/<pid>/stat. The runner passes
// the output of `getconf CLK_TCK` when it differs.
const DefaultClockTicks = 100

// Sample is one reading of a process's counters.
type Sample struct {
	// CPU is user plus system CPU time of the process and its threads.
	CPU time.Duration
	// PeakRSSKiB is VmHWM, the peak resident set size since the process
	// started, in KiB.
	PeakRSSKiB int64
}

// Read returns the CPU time and peak RSS of process pid. clockTicks is the
// kernel's USER_HZ, and zero means [DefaultClockTicks].
func Read(pid int, clockTicks int) (Sample, error) {
	if clockTicks <= 0 {
		clockTicks = DefaultClockTicks
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Sample{}, fmt.Errorf("failed to read CPU time of process %d: %w", pid, err)
	}
	ticks, err := ParseStatCPUTicks(stat)
	if err != nil {
		return Sample{}, fmt.Errorf("failed to parse /proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Sample{}, fmt.Errorf("failed to read memory status of process %d: %w", pid, err)
	}
	hwm, err := ParseStatusKiB(status, "VmHWM")
	if err != nil {
		return Sample{}, fmt.Errorf("failed to parse /proc/%d/status: %w", pid, err)
	}
	cpu := time.Duration(ticks) * time.Second / time.Duration(clockTicks)
	return Sample{CPU: cpu, PeakRSSKiB: hwm}, nil
}

// ParseStatCPUTicks returns utime+stime, in clock ticks, from the contents of
// /proc/<pid>/stat. The command name in field 2 may contain spaces and
// parentheses, so fields are counted from the last ')'.
func ParseStatCPUTicks(stat []byte) (int64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("missing ')' after the command name")
	}
	// The slice after ") " starts at field 3 (state), so utime and stime,
	// fields 14 and 15, are at indexes 11 and 12.
	fields := bytes.Fields(stat[end+1:])
	const utimeIndex, stimeIndex = 14 - 3, 15 - 3
	if len(fields) <= stimeIndex {
		return 0, fmt.Errorf("found %d fields after the command name, want at least %d", len(fields), stimeIndex+1)
	}
	utime, err := strconv.ParseInt(string(fields[utimeIndex]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid utime %q: %w", fields[utimeIndex], err)
	}
	stime, err := strconv.ParseInt(string(fields[stimeIndex]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid stime %q: %w", fields[stimeIndex], err)
	}
	return utime + stime, nil
}

// ParseStatusKiB returns the value in KiB of the named field (for example
// "VmHWM" or "VmRSS") from the contents of /proc/<pid>/status.
func ParseStatusKiB(status []byte, field string) (int64, error) {
	prefix := []byte(field + ":")
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		value, ok := bytes.CutSuffix(bytes.TrimSpace(rest), []byte(" kB"))
		if !ok {
			return 0, fmt.Errorf("field %s has no kB unit: %q", field, line)
		}
		kib, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid %s value %q: %w", field, value, err)
		}
		return kib, nil
	}
	return 0, fmt.Errorf("field %s not found", field)
}

// LoadAverage returns the one-minute load average from /proc/loadavg: the
// number of runnable and uninterruptible tasks, averaged. On a 2-CPU machine
// a value well above 2 means other work competed with the benchmark.
func LoadAverage() (float64, error) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, fmt.Errorf("failed to read load average: %w", err)
	}
	fields := bytes.Fields(data)
	if len(fields) == 0 {
		return 0, errors.New("/proc/loadavg is empty")
	}
	load, err := strconv.ParseFloat(string(fields[0]), 64)
	if err != nil {
		return 0, fmt.Errorf("invalid load average %q: %w", fields[0], err)
	}
	return load, nil
}
