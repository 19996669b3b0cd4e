package db_test

import (
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/db"
)

func TestScope(t *testing.T) {
	trial := db.TrialScope("T1")
	site := db.Scope{Trial: "T1", Site: "S1"}
	subject := db.Scope{Trial: "T1", Site: "S1", Subject: "S1-001"}
	visit := db.Scope{Trial: "T1", Site: "S1", Subject: "S1-001", Visit: "BL"}
	tests := []struct {
		s       db.Scope
		str     string
		chain   string
		within  []db.Scope // scopes s lies within
		outside []db.Scope // scopes it does not
	}{
		{db.System, "system", "system", []db.Scope{db.System}, []db.Scope{trial, site}},
		{trial, "trial/T1", "trial/T1", []db.Scope{trial}, []db.Scope{db.System, site, db.TrialScope("T2")}},
		{site, "trial/T1/site/S1", "trial/T1", []db.Scope{trial, site}, []db.Scope{db.System, subject, {Trial: "T1", Site: "S2"}}},
		{visit, "trial/T1/site/S1/subject/S1-001/visit/BL", "trial/T1", []db.Scope{trial, site, subject, visit},
			[]db.Scope{db.System, {Trial: "T1", Site: "S1", Subject: "S1-002"}, {Trial: "T1", Site: "S1", Subject: "S1-001", Visit: "FU1"},
				{Trial: "T2", Site: "S1", Subject: "S1-001", Visit: "BL"}}},
	}
	for _, tc := range tests {
		if got := tc.s.String(); got != tc.str {
			t.Errorf("%+v.String() = %q, want %q", tc.s, got, tc.str)
		}
		if got := tc.s.Chain(); got != tc.chain {
			t.Errorf("%s.Chain() = %q, want %q", tc.s, got, tc.chain)
		}
		if err := tc.s.Validate(); err != nil {
			t.Errorf("%s: %v", tc.s, err)
		}
		for _, o := range tc.within {
			if !tc.s.Within(o) {
				t.Errorf("%s is not within %s", tc.s, o)
			}
		}
		for _, o := range tc.outside {
			if tc.s.Within(o) {
				t.Errorf("%s is within %s", tc.s, o)
			}
		}
	}
	for _, bad := range []db.Scope{
		{Trial: "system"}, {Trial: "a/b"}, {Trial: ".."}, {Trial: "" + "T1 "}, {Site: "S1"}, {Trial: "T1", Subject: "X"},
		{Trial: "T1", Site: "S1", Visit: "BL"}, {Trial: "T1", Site: "*"}, {Trial: "T1", Site: "S1", Subject: "Doe^John"},
	} {
		if err := bad.Validate(); trialgate.ErrorCode(err) != trialgate.EInvalid {
			t.Errorf("%+v.Validate() = %v, want invalid", bad, err)
		}
	}
}
