package reads

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/dicom"
)

func elem(t dicom.Tag, vr, v string) *dicom.Element {
	return &dicom.Element{Tag: t, VR: vr, Value: dicom.PadString(vr, v)}
}

func dataset(es ...*dicom.Element) *dicom.Dataset {
	ds := &dicom.Dataset{}
	for _, e := range es {
		ds.Set(e)
	}
	return ds
}

func TestBlinderRewrite(t *testing.T) {
	const study = "2.25.1234"
	item := dataset(elem(0x00080090, "PN", "Nested^Doctor"), elem(0x00080020, "DA", "20190304"),
		elem(0x00120030, "LO", "S1"))
	in := func() *dicom.Dataset {
		return dataset(
			elem(dicom.PatientName, "PN", "S1-001"), elem(dicom.PatientID, "LO", "S1-001"),
			elem(0x00100030, "DA", "19500229"), elem(0x00101000, "LO", "OTHER-ID"),
			elem(dicom.InstitutionName, "LO", "Marker Hospital"), elem(0x00081010, "SH", "CT-NORTH"),
			elem(dicom.AccessionNumber, "SH", "ACC1"), elem(dicom.StudyID, "SH", "17"),
			elem(0x00080020, "DA", "20240301"), elem(0x00080021, "DA", `20231231\20240228`),
			elem(0x0008002A, "DT", "20200229101010.5+0100"), elem(0x00080030, "TM", "101010"),
			elem(0x00081030, "LO", "BASELINE CT chest S1"), elem(0x0008103E, "LO", "axial S10 Baseline-scan"),
			elem(0x00120030, "LO", "S1"), elem(0x00120031, "LO", "North site"), elem(0x00120040, "LO", "S1-001"),
			elem(0x00120050, "LO", "BL"), elem(0x00120051, "ST", "Baseline"), elem(0x00120062, "CS", "YES"),
			elem(0x00120063, "LO", "TrialGate PS3.15 basic"),
			elem(dicom.StudyInstanceUID, "UI", study), elem(0x00091001, "LO", "private"),
			&dicom.Element{Tag: 0x00081140, VR: "SQ", Items: []*dicom.Dataset{item}},
		)
	}
	forbidden := []string{"S1-001", "S1", "North site", "BL", "Baseline"}
	cases := []struct {
		name    string
		b       Blinding
		shift   int
		check   map[dicom.Tag]string // "" means absent or empty
		present map[dicom.Tag]bool
	}{
		{name: "shift and label", b: Blinding{Dates: DatesShift, Timepoints: TimepointsLabel}, shift: -366,
			check: map[dicom.Tag]string{
				dicom.PatientName: "RC-AAAA-BBBB", dicom.PatientID: "RC-AAAA-BBBB",
				0x00080020: "20230301", 0x00080021: `20221230\20230227`, 0x0008002A: "20190228101010.5+0100",
				0x00100030: "", 0x00080030: "101010", 0x00120050: "baseline",
				0x00081030: "CT chest", 0x0008103E: "axial S10 -scan",
				0x00120063: "TrialGate PS3.15 basic", 0x00120062: "YES",
				dicom.AccessionNumber: "", dicom.StudyID: "", dicom.StudyInstanceUID: study,
				dicom.InstitutionName: "", 0x00081010: "", 0x00101000: "", 0x00120030: "", 0x00120031: "",
				0x00120040: "", 0x00120051: "", 0x00091001: "",
			}},
		{name: "hide", b: Blinding{Dates: DatesHide, Timepoints: TimepointsHide},
			check: map[dicom.Tag]string{0x00080020: "", 0x00080021: "", 0x0008002A: "", 0x00100030: "", 0x00120050: "",
				0x00080030: "101010", dicom.PatientName: "RC-AAAA-BBBB"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := in()
			b := &Blinder{Code: "RC-AAAA-BBBB", Blinding: tc.b, ShiftDays: tc.shift,
				Timepoints: map[string]string{study: "baseline"}, Forbidden: forbidden}
			if err := b.Rewrite(ds); err != nil {
				t.Fatal(err)
			}
			for tag, want := range tc.check {
				if got := ds.String(tag); got != want && !(len(ds.Get(tag).Strings()) > 1) {
					t.Errorf("%s = %q, want %q", tag, got, want)
				}
				if e := ds.Get(tag); e != nil && len(e.Strings()) > 1 {
					if got := string(bytes.TrimRight(e.Value, " ")); got != want {
						t.Errorf("%s = %q, want %q", tag, got, want)
					}
				}
			}
			seq := ds.Get(0x00081140)
			if seq == nil || len(seq.Items) != 1 {
				t.Fatalf("sequence lost: %v", seq)
			}
			it := seq.Items[0]
			if it.String(0x00080090) != "" || it.Get(0x00120030) != nil {
				t.Errorf("nested item not blinded: %+v", it.Elements)
			}
			wantNested := map[string]string{DatesShift: "20180303", DatesHide: ""}[tc.b.Dates]
			if got := it.String(0x00080020); got != wantNested {
				t.Errorf("nested date %q, want %q", got, wantNested)
			}
		})
	}
}

// The elements after Pixel Data are rewritten apart: nothing is added
// to them.
func TestBlinderTrailer(t *testing.T) {
	ds := dataset(elem(0xFFFCFFFC, "OB", "\x00\x00"), elem(0x00080020, "DA", "20200101"))
	b := &Blinder{Code: "RC-AAAA-BBBB", Blinding: Blinding{Dates: DatesHide, Timepoints: TimepointsLabel}}
	if err := b.Rewrite(ds); err != nil {
		t.Fatal(err)
	}
	if ds.Get(dicom.PatientName) != nil || ds.Get(dicom.PatientID) != nil || ds.Get(dicom.ClinicalTrialTimePointID) != nil {
		t.Errorf("trailer gained attributes: %v", ds.Elements)
	}
	if ds.String(0x00080020) != "" {
		t.Errorf("trailer date kept")
	}
}

func TestShiftDate(t *testing.T) {
	for _, tc := range []struct {
		v, vr string
		days  int
		want  string
		ok    bool
	}{
		{"20240229", "DA", 365, "20250228", true}, {"20240228", "DA", 1, "20240229", true},
		{"20240101", "DA", -1, "20231231", true},
		{"2024", "DT", -1, "", false},
		{"20240101120000", "DT", 1, "20240102120000", true},
		{"2024010", "DA", 1, "", false},
		{"20241301", "DA", 1, "", false},
		{"20240101x", "DA", 1, "", false},
		{"", "DA", 1, "", true},
	} {
		got, ok := shiftDate(tc.v, tc.vr, tc.days)
		if got != tc.want || ok != tc.ok {
			t.Errorf("shiftDate(%q, %s, %d) = %q, %v; want %q, %v", tc.v, tc.vr, tc.days, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCleanWordBoundaries(t *testing.T) {
	b := &Blinder{Forbidden: []string{"S1", "Follow-up one", "Baseline", ""}}
	b.prepare()
	for in, want := range map[string]string{
		"S1":                     "",
		"S10 S1 xS1":             "S10 xS1",
		"baseline/BASELINE":      "/",
		"after follow-up ONE.":   "after .",
		"nothing to remove":      "nothing to remove",
		"Ünïcode S1 Überschrift": "Ünïcode Überschrift",
	} {
		if got, _ := b.clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// A real object, blinded and written out, holds none of what it said.
func TestBlinderRealFile(t *testing.T) {
	path := filepath.Join("..", "testdata", "real", "3.dcm")
	f, err := os.Open(path)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	obj, err := dicom.Parse(f, dicom.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	obj.Dataset.Walk(func(_ []*dicom.Element, e *dicom.Element) bool {
		switch {
		case e.VR == "DA" && len(e.String()) == 8, e.VR == "PN" && e.String() != "",
			e.Tag == dicom.InstitutionName && e.String() != "", e.Tag == dicom.PatientID && e.String() != "":
			secrets = append(secrets, e.String())
		}
		return true
	})
	if len(secrets) == 0 {
		t.Fatal("the file holds nothing to blind: pick another")
	}
	b := &Blinder{Code: "RC-TEST-0001", Blinding: Blinding{Dates: DatesShift, Timepoints: TimepointsLabel}, ShiftDays: -400}
	if err := b.Rewrite(obj.Dataset); err != nil {
		t.Fatal(err)
	}
	obj.Dataset.Remove(dicom.PixelData)
	var out bytes.Buffer
	if _, err := obj.Write(&out, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(out.Bytes(), []byte(s)) {
			t.Errorf("blinded header still holds %q", s)
		}
	}
	if _, err := dicom.Parse(bytes.NewReader(out.Bytes()), dicom.Limits{}); err != nil {
		t.Errorf("blinded object does not parse: %v", err)
	}
}

// FuzzBlind: whatever an upload's header holds, blinding it does not
// panic, and what it writes parses again with the case code in place.
func FuzzBlind(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "real", "3.dcm")); err == nil {
		f.Add(b[:min(len(b), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := dicom.Parse(bytes.NewReader(data), dicom.Limits{MaxHeader: 1 << 20})
		if err != nil || obj.Dataset.String(dicom.StudyInstanceUID) == "" {
			return
		}
		b := &Blinder{Code: "RC-FUZZ-0001", Blinding: Blinding{Dates: DatesShift, Timepoints: TimepointsLabel}, ShiftDays: -500,
			Forbidden: []string{"SUBJ-FUZZ-1", "SITE-FUZZ"}}
		if err := b.Rewrite(obj.Dataset); err != nil {
			t.Fatal(err)
		}
		obj.Dataset.Remove(dicom.PixelData)
		var out bytes.Buffer
		if _, err := obj.Write(&out, nil); err != nil {
			return // what the writer refuses, it refuses before and after
		}
		back, err := dicom.Parse(bytes.NewReader(out.Bytes()), dicom.Limits{})
		if err != nil {
			t.Fatalf("blinded output does not parse: %v", err)
		}
		if got := back.Dataset.String(dicom.PatientID); got != "RC-FUZZ-0001" {
			t.Errorf("PatientID %q after blinding", got)
		}
	})
}
