package trialgate

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"S01-001": true, "a.b_c-D": true, strings.Repeat("x", 64): true, "T1": true, "...": true, ".a": true,
		"": false, strings.Repeat("x", 65): false, "SUBJ 1": false, "Doe^John": false, "ü": false,
		".": false, "..": false, "a/b": false, "T1' OR 1=1--": false, "*": false, "role:x": false, "a\x00": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
