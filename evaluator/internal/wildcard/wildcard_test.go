package wildcard

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		fold, want bool
	}{
		{"ecs:*:*", "ecs:cloudServers:list", true, true},
		{"ecs:*", "ecs:cloudServers:list", true, true},
		{"ecs:*:get*", "ecs:cloudServers:showServer", true, false},
		{"ecs:*:get*", "ecs:servers:get", true, true},
		{"ecs:*:GET*", "ecs:servers:getTags", true, true},
		{"ecs:*:GET*", "ecs:servers:getTags", false, false},
		{"ecs:servers:?et", "ecs:servers:get", true, true},
		{"ecs:servers:?et", "ecs:servers:gget", true, false},
		{"*", "", true, true},
		{"?", "", true, false},
		{"a*b*c", "aXbYbZc", false, true},
		{"a*b*c", "aXbYbZ", false, false},
		{"**", "anything", false, true},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s, tt.fold); got != tt.want {
			t.Errorf("Match(%q, %q, fold=%v) = %v, want %v", tt.pattern, tt.s, tt.fold, got, tt.want)
		}
	}
}
