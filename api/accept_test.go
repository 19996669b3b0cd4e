package api

import "testing"

func TestAccepts(t *testing.T) {
	tests := []struct {
		accept    string
		json, wad bool // for DICOM JSON, for WADO-RS multipart
	}{
		{"", true, true},
		{"*/*", true, true},
		{"application/dicom+json", true, false},
		{"application/json; q=0.9", true, false},
		{`multipart/related; type="application/dicom"`, false, true},
		{"multipart/related", false, true},
		{`multipart/related; type="application/dicom+xml"`, false, false},
		{"text/html, application/xml", false, false},
		{"text/html, multipart/*", false, true},
	}
	for _, tt := range tests {
		if got := accepts(tt.accept, dicomJSON); got != tt.json {
			t.Errorf("accepts(%q, dicomJSON) = %v", tt.accept, got)
		}
		if got := accepts(tt.accept, dicomMultipart); got != tt.wad {
			t.Errorf("accepts(%q, dicomMultipart) = %v", tt.accept, got)
		}
	}
}
