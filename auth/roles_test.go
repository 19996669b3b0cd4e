package auth_test

import (
	"strings"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/auth"
)

func TestGrantValidate(t *testing.T) {
	tests := []struct {
		g   auth.Grant
		msg string // "" means valid
	}{
		{auth.Grant{Role: auth.SiteUploader, Trial: "T1", Site: "S1"}, ""},
		{auth.Grant{Role: auth.SiteUploader, Trial: "T1"}, "role site_uploader needs a trial and a site"},
		{auth.Grant{Role: auth.SiteUploader, Site: "S1"}, "role site_uploader needs a trial"},
		{auth.Grant{Role: auth.SiteUploader, Trial: "*", Site: "S1"}, "granted per trial, not for all trials"},
		{auth.Grant{Role: auth.SiteUploader, Trial: "T1", Site: "*"}, `site id "*" may contain only`},
		{auth.Grant{Role: auth.QCReviewer, Trial: "T1"}, ""},
		{auth.Grant{Role: auth.QCReviewer}, "role qc_reviewer needs a trial"},
		{auth.Grant{Role: auth.QCReviewer, Trial: "T1", Site: "S1"}, "role qc_reviewer is granted per trial: it takes no site"},
		{auth.Grant{Role: auth.QCReviewer, Trial: "*"}, "role qc_reviewer is granted per trial, not for all trials"},
		{auth.Grant{Role: auth.Reader, Trial: "T1"}, ""},
		{auth.Grant{Role: auth.Adjudicator, Trial: "T1"}, ""},
		{auth.Grant{Role: auth.DataManager, Trial: "T1"}, ""},
		{auth.Grant{Role: auth.DataManager, Trial: "*"}, "not for all trials"},
		{auth.Grant{Role: auth.QAReviewer, Trial: "*"}, ""},
		{auth.Grant{Role: auth.QAReviewer, Trial: "T1"}, ""},
		{auth.Grant{Role: auth.QAReviewer}, `role qa_reviewer needs a trial, or "*" for all trials`},
		{auth.Grant{Role: auth.Inspector, Trial: "*"}, ""},
		{auth.Grant{Role: auth.Inspector, Trial: "*", Site: "S1"}, "takes no site"},
		{auth.Grant{Role: auth.Admin}, ""},
		{auth.Grant{Role: auth.Admin, Trial: "T1"}, "role admin is system-wide: it takes no trial or site"},
		{auth.Grant{Role: auth.Admin, Site: "S1"}, "system-wide"},
		{auth.Grant{Role: "root"}, `unknown role "root"`},
		{auth.Grant{Role: ""}, `unknown role ""`},
		{auth.Grant{Role: auth.Reader, Trial: "T/1"}, `trial id "T/1" may contain only letters, digits`},
		{auth.Grant{Role: auth.Reader, Trial: "T:1"}, "may contain only"},
		{auth.Grant{Role: auth.Reader, Trial: strings.Repeat("t", 65)}, "at most 64 characters"},
		{auth.Grant{Role: auth.Reader, Trial: "ONCO-2026_a.1"}, ""},
	}
	for _, tc := range tests {
		err := tc.g.Validate()
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.g, err)
			}
			continue
		}
		if trialgate.ErrorCode(err) != trialgate.EInvalid || !strings.Contains(trialgate.ErrorMessage(err), tc.msg) {
			t.Errorf("%s: got %v, want invalid %q", tc.g, err, tc.msg)
		}
	}
	for _, r := range auth.Roles() {
		if !r.Valid() {
			t.Errorf("role %s not valid", r)
		}
	}
}

func TestPrincipalScopes(t *testing.T) {
	p := &auth.Principal{
		User: auth.User{ID: "u_1", Username: "pat", FullName: "Pat Doe"},
		Grants: []auth.Grant{
			{Role: auth.SiteUploader, Trial: "T1", Site: "S1"},
			{Role: auth.QCReviewer, Trial: "T2"},
			{Role: auth.Inspector, Trial: auth.AllTrials},
			{Role: auth.Admin},
		},
		SessionID: "s_1",
		Client:    auth.Client{IP: "192.0.2.1", UserAgent: "ua"},
	}
	tests := []struct {
		role        auth.Role
		trial, site string
		want        bool
	}{
		{auth.SiteUploader, "T1", "S1", true},
		{auth.SiteUploader, "T1", "S2", false},
		{auth.SiteUploader, "T1", "", false}, // a site grant does not cover the whole trial
		{auth.SiteUploader, "T2", "S1", false},
		{auth.QCReviewer, "T2", "", true},
		{auth.QCReviewer, "T2", "S9", true}, // a trial grant covers every site
		{auth.QCReviewer, "T1", "", false},
		{auth.QCReviewer, "", "", false},
		{auth.Inspector, "T9", "", true},
		{auth.Inspector, "T9", "S3", true},
		{auth.Inspector, "", "", true},  // all trials include the system scope
		{auth.Inspector, "*", "", true}, // "does p inspect every trial?"
		{auth.QCReviewer, "*", "", false},
		{auth.Admin, "", "", true},
		{auth.Admin, "T1", "", false}, // admin never acts on trial data
		{auth.Reader, "T1", "", false},
	}
	for _, tc := range tests {
		if got := p.Has(tc.role, tc.trial, tc.site); got != tc.want {
			t.Errorf("Has(%s, %q, %q) = %v, want %v", tc.role, tc.trial, tc.site, got, tc.want)
		}
	}
	if r, ok := p.Allows("T1", "S1", auth.QCReviewer, auth.SiteUploader); !ok || r != auth.SiteUploader {
		t.Errorf("Allows = %s, %v", r, ok)
	}
	if r, ok := p.Allows("T3", "", auth.QCReviewer, auth.DataManager); ok {
		t.Errorf("Allows = %s, %v", r, ok)
	}
	if !p.Is("u_1") || p.Is("u_2") || p.Is("") {
		t.Error("Is")
	}
	a := p.Actor(auth.QCReviewer)
	if a.ID != "u_1" || a.Username != "pat" || a.FullName != "Pat Doe" || a.Role != "qc_reviewer" ||
		a.Session != "s_1" || a.IP != "192.0.2.1" || a.UserAgent != "ua" {
		t.Errorf("Actor = %+v", a)
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		username, password, msg string
	}{
		{"alice", "correct horse battery", ""},
		{"alice", "elevenchars", "at least 12 characters"},
		{"alice", "twelve chars", ""},
		{"alice", "my-Alice-password", "must not contain the username"},
		{"alicealice12", "ALICEALICE12", "must not be the username"},
		{"alice", "\xff\xfe invalid utf8 bytes", "valid UTF-8"},
		{"alice", strings.Repeat("é", 513), "at most 1024 bytes"},
		{"alice", strings.Repeat("é", 512), ""},
	}
	for _, tc := range tests {
		err := auth.ValidatePassword(tc.username, tc.password)
		if tc.msg == "" {
			if err != nil {
				t.Errorf("%q/%q: %v", tc.username, tc.password, err)
			}
			continue
		}
		if trialgate.ErrorCode(err) != trialgate.EInvalid || !strings.Contains(trialgate.ErrorMessage(err), tc.msg) {
			t.Errorf("%q/%q: got %v, want %q", tc.username, tc.password, err, tc.msg)
		}
	}
}
