package procstat

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatCPUTicks(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    int64
		wantErr string
	}{
		{
			name: "plain command",
			stat: "1234 (ecsauthz) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 25 0 0 20 0 7 0 100 1000000 2000 18446744073709551615",
			want: 175,
		},
		{
			name: "command with spaces and parentheses",
			stat: "42 (a) b (c)) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0",
			want: 10,
		},
		{name: "no command", stat: "42 a R 1", wantErr: "missing ')'"},
		{name: "too few fields", stat: "42 (a) R 1 2 3", wantErr: "found 4 fields"},
		{name: "bad utime", stat: "42 (a) R 1 42 42 0 -1 0 0 0 0 0 x 3 0", wantErr: "invalid utime"},
	}
	for _, tt := range tests {
		got, err := ParseStatCPUTicks([]byte(tt.stat))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: ParseStatCPUTicks error = %v, want substring %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: ParseStatCPUTicks error = %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: ParseStatCPUTicks = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\tecsauthz\nVmPeak:\t  800000 kB\nVmHWM:\t   23456 kB\nVmRSS:\t   20000 kB\n"
	tests := []struct {
		field   string
		want    int64
		wantErr string
	}{
		{field: "VmHWM", want: 23456},
		{field: "VmRSS", want: 20000},
		{field: "VmSwap", wantErr: "not found"},
		{field: "Name", wantErr: "no kB unit"},
	}
	for _, tt := range tests {
		got, err := ParseStatusKiB([]byte(status), tt.field)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseStatusKiB(%s) error = %v, want substring %q", tt.field, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseStatusKiB(%s) = %d, %v, want %d", tt.field, got, err, tt.want)
		}
	}
}

func TestReadSelf(t *testing.T) {
	sample, err := Read(os.Getpid(), 0)
	if err != nil {
		t.Fatalf("Read(self) error = %v", err)
	}
	if sample.PeakRSSKiB <= 0 {
		t.Errorf("Read(self).PeakRSSKiB = %d, want > 0", sample.PeakRSSKiB)
	}
	if sample.CPU < 0 {
		t.Errorf("Read(self).CPU = %v, want >= 0", sample.CPU)
	}
}

func TestLoadAverage(t *testing.T) {
	load, err := LoadAverage()
	if err != nil {
		t.Fatalf("LoadAverage error = %v", err)
	}
	if load < 0 {
		t.Errorf("LoadAverage = %v, want >= 0", load)
	}
}
