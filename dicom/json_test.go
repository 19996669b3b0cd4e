package dicom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMarshalJSON(t *testing.T) {
	seq := &Dataset{}
	seq.SetString(CodeValue, "SH", "113100")
	for _, tt := range []struct {
		name string
		el   *Element
		cs   string // Specific Character Set, if any
		want string
	}{
		{"strings", &Element{Tag: ImageType, VR: "CS", Value: []byte(`ORIGINAL\\AXIAL `)}, "", `{"vr":"CS","Value":["ORIGINAL",null,"AXIAL"]}`},
		{"empty", &Element{Tag: AccessionNumber, VR: "SH"}, "", `{"vr":"SH"}`},
		{"uid padding", &Element{Tag: SOPInstanceUID, VR: "UI", Value: []byte("1.2.3\x00")}, "", `{"vr":"UI","Value":["1.2.3"]}`},
		{"person name", &Element{Tag: PatientName, VR: "PN", Value: []byte("Yamada^Tarou=山田^太郎")}, "ISO_IR 192", `{"vr":"PN","Value":[{"Alphabetic":"Yamada^Tarou","Ideographic":"山田^太郎"}]}`},
		{"latin-1", &Element{Tag: PatientName, VR: "PN", Value: []byte("M\xfcller ")}, "ISO_IR 100", `{"vr":"PN","Value":[{"Alphabetic":"Müller"}]}`},
		{"invalid utf-8", &Element{Tag: PatientID, VR: "LO", Value: []byte("a\xff")}, "ISO_IR 192", `{"vr":"LO","Value":["a�"]}`},
		{"IS", &Element{Tag: InstanceNumber, VR: "IS", Value: []byte(" 12 ")}, "", `{"vr":"IS","Value":[12]}`},
		{"DS", &Element{Tag: PixelSpacing, VR: "DS", Value: []byte(`.5\1.25e2\+3 `)}, "", `{"vr":"DS","Value":[0.5,1.25e2,3]}`},
		{"DS not a number", &Element{Tag: SliceThickness, VR: "DS", Value: []byte("abc ")}, "", `{"vr":"DS","Value":["abc"]}`},
		{"US", &Element{Tag: Rows, VR: "US", Value: []byte{0, 2, 1, 0}}, "", `{"vr":"US","Value":[512,1]}`},
		{"SS", &Element{Tag: NewTag(0x0028, 0x0106), VR: "SS", Value: []byte{0xff, 0xff}}, "", `{"vr":"SS","Value":[-1]}`},
		{"FL", &Element{Tag: NewTag(0x0018, 0x9089), VR: "FL", Value: []byte{0, 0, 0xc0, 0x3f}}, "", `{"vr":"FL","Value":[1.5]}`},
		{"UV", &Element{Tag: NewTag(0x0008, 0x041F), VR: "UV", Value: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, "", `{"vr":"UV","Value":[18446744073709551615]}`},
		{"AT", &Element{Tag: NewTag(0x0028, 0x0009), VR: "AT", Value: []byte{0x54, 0x00, 0x10, 0x00}}, "", `{"vr":"AT","Value":["00540010"]}`},
		{"OB", &Element{Tag: NewTag(0x0009, 0x1001), VR: "UN", Value: []byte{1, 2, 3}}, "", `{"vr":"UN","InlineBinary":"AQID"}`},
		{"PN padding", &Element{Tag: PatientName, VR: "PN", Value: []byte("Doe^^^= ")}, "", `{"vr":"PN","Value":[{"Alphabetic":"Doe"}]}`},
		{"PN empty", &Element{Tag: PatientName, VR: "PN", Value: []byte("^^^^")}, "", `{"vr":"PN"}`},
		{"SQ", &Element{Tag: DeidentificationMethodCodeSequence, VR: "SQ", Items: []*Dataset{seq, {}}}, "", `{"vr":"SQ","Value":[{"00080100":{"vr":"SH","Value":["113100"]}},{}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ds := &Dataset{}
			if tt.cs != "" {
				ds.SetString(SpecificCharacterSet, "CS", tt.cs)
			}
			ds.Set(tt.el)
			b, err := ds.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", b, err)
			}
			if g := string(got[tt.el.Tag.Hex()]); g != tt.want {
				t.Errorf("got  %s\nwant %s", g, tt.want)
			}
		})
	}
}

// TestJSONPeer compares MarshalJSON with independent implementations,
// where installed, for the real files: dcmtk's dcm2json and pydicom's
// Dataset.to_json.
func TestJSONPeer(t *testing.T) {
	peers := map[string]func(path string) *exec.Cmd{}
	if p, err := exec.LookPath("dcm2json"); err == nil {
		peers["dcm2json"] = func(path string) *exec.Cmd { return exec.Command(p, path) }
	}
	if exec.Command("python3", "-c", "import pydicom").Run() == nil {
		peers["pydicom"] = func(path string) *exec.Cmd {
			return exec.Command("python3", "-c", "import sys, pydicom; print(pydicom.dcmread(sys.argv[1]).to_json())", path)
		}
	}
	if len(peers) == 0 {
		t.Skip("neither dcm2json (dcmtk) nor pydicom is installed")
	}
	for peer, cmd := range peers {
		for _, name := range realFiles {
			t.Run(peer+"/"+name, func(t *testing.T) {
				in := readReal(t, name)
				o, err := Parse(bytes.NewReader(in), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				ours, _ := o.Dataset.MarshalJSON()
				theirs, err := cmd(filepath.Join(realDir(t), name)).Output()
				if err != nil {
					t.Fatalf("%s: %v", peer, err)
				}
				var a, b map[string]any
				if err := json.Unmarshal(ours, &a); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(theirs, &b); err != nil {
					t.Fatal(err)
				}
				for _, m := range []map[string]any{a, b} {
					for k := range m {
						// Pixel Data and trailing padding are not in our
						// header; dcmtk rewrites Specific Character Set to
						// ISO_IR 192 as it converts, we keep the source's.
						if strings.HasPrefix(k, "7FE0") || strings.HasPrefix(k, "FFFC") || k == "00080005" {
							delete(m, k)
						}
					}
				}
				for k := range a {
					if !reflect.DeepEqual(a[k], b[k]) {
						t.Errorf("%s:\n ours %s\n %s %s", k, short(a[k]), peer, short(b[k]))
					}
				}
				for k := range b {
					if _, ok := a[k]; !ok {
						t.Errorf("%s: only %s has it", k, peer)
					}
				}
			})
		}
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return fmt.Sprintf("%s...", b[:300])
	}
	return string(b)
}
