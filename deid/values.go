package deid

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/trialgate/trialgate/dicom"
)

// Dummy values (action D), valid for their VR and within every VR's
// length limit (AE, CS and SH allow 16 characters).
const (
	dummyText = "ANONYMIZED"
	dummyName = "ANONYMOUS"
	dummyDA   = "19000101"
	dummyTM   = "000000"
	dummyDT   = "19000101000000"
	dummyAS   = "000Y"
	dummyUR   = "urn:anonymized"
	cleaned   = "CLEANED" // what Clean leaves when nothing readable remains
)

// dummy returns a dummy value for e's VR. A UID becomes its remapped UID
// (or, if empty, a UID derived from the tag), so D keeps references intact.
func (a *applier) dummy(e *dicom.Element) []byte {
	s := ""
	switch e.VR {
	case "PN":
		s = dummyName
	case "DA":
		s = dummyDA
	case "TM":
		s = dummyTM
	case "DT":
		s = dummyDT
	case "AS":
		s = dummyAS
	case "UR":
		s = dummyUR
	case "DS", "IS":
		s = "0"
	case "UI":
		if v := a.remap(e); len(v) > 0 {
			return v
		}
		return dicom.PadString("UI", a.p.uid(a.mac, "trialgate/dummy/"+e.Tag.String()))
	case "AE", "CS", "SH", "LO", "LT", "ST", "UT", "UC":
		s = dummyText
	case "US", "SS":
		return make([]byte, 2)
	case "UL", "SL", "FL", "AT", "OF", "OL":
		return make([]byte, 4)
	case "FD", "SV", "UV", "OD", "OV":
		return make([]byte, 8)
	default: // OB, OW, UN: a value whose meaning the profile cannot know
		return make([]byte, 2)
	}
	return dicom.PadString(e.VR, s)
}

// remap returns e's value with every UID remapped. The value is read as
// text whatever the VR, so a UID attribute received as UN is remapped too.
func (a *applier) remap(e *dicom.Element) []byte {
	v := strings.TrimRight(string(e.Value), " \x00")
	if v == "" {
		return nil
	}
	parts := strings.Split(v, `\`)
	for i, u := range parts {
		parts[i] = a.p.uid(a.mac, strings.TrimSpace(u))
	}
	return dicom.PadString("UI", strings.Join(parts, `\`))
}

// shift moves every date of a DA or DT value by the subject's offset. A DT
// keeps its time and UTC offset; a partial date (YYYY or YYYYMM) is shifted
// as its first day and written back at its own precision. A value that is
// not a date cannot be shifted and becomes the dummy date.
func (a *applier) shift(e *dicom.Element) []byte {
	vals := e.Strings()
	if len(vals) == 0 {
		return e.Value
	}
	for i, v := range vals {
		if v == "" {
			continue
		}
		n := len(v)
		if e.VR == "DA" && n != 8 || n < 4 {
			vals[i] = dummyFor(e.VR)
			continue
		}
		dn := min(n, 8)
		if dn != 4 && dn != 6 && dn != 8 {
			vals[i] = dummyFor(e.VR)
			continue
		}
		full := v[:dn] + "0101"[dn-4:]
		d, err := time.Parse("20060102", full)
		if err != nil {
			vals[i] = dummyFor(e.VR)
			continue
		}
		vals[i] = d.AddDate(0, 0, a.offset).Format("20060102")[:dn] + v[dn:]
	}
	return dicom.PadString(e.VR, strings.Join(vals, `\`))
}

// dummyFor returns the dummy date for a DA or DT.
func dummyFor(vr string) string {
	if vr == "DT" {
		return dummyDT
	}
	return dummyDA
}

// isFreeText reports whether values of vr are free text that may name
// people or places.
func isFreeText(vr string) bool {
	switch vr {
	case "LO", "SH", "ST", "LT", "UT", "UC", "PN":
		return true
	}
	return false
}

// clean replaces e's value with one of similar meaning known not to hold
// identifying information (action C), reporting whether it changed:
//   - text (SH, LO, ST, LT, UT, UC, CS, AE): every occurrence of the
//     object's own identifying values (see identifiers) is removed, case
//     insensitively, and so is every run of 5 or more digits (dates, phone,
//     record and accession numbers); a value with no letter left becomes
//     "CLEANED";
//   - person names: the dummy name, because any name may identify;
//   - UIDs: remapped; dates and times, numbers, ages and binary values:
//     the dummy value, because they cannot be cleaned reliably.
//
// After Pixel Data (Trailer) the identifying values are not at hand, so
// text gets the dummy value too.
func (a *applier) clean(e *dicom.Element) bool {
	old := e.Value
	switch {
	case e.VR == "UI":
		e.Value = a.remap(e)
	case e.VR == "PN" || a.trailer || !isFreeText(e.VR) && e.VR != "CS" && e.VR != "AE":
		e.Value = a.dummy(e)
	default:
		vals := e.Strings()
		for i, v := range vals {
			vals[i] = a.cleanText(v)
		}
		e.Value = dicom.PadString(e.VR, strings.Join(vals, `\`))
	}
	return string(old) != string(e.Value)
}

// cleanText removes identifying content from one text value (see clean).
func (a *applier) cleanText(s string) string {
	if s == "" {
		return s
	}
	for _, t := range a.terms {
		s = removeFold(s, t)
	}
	s = removeDigitRuns(s, 5)
	s = strings.Join(strings.Fields(s), " ")
	if !strings.ContainsFunc(s, unicode.IsLetter) {
		return cleaned
	}
	return s
}

// removeFold removes every occurrence of t in s, ASCII letters compared
// case-insensitively (other bytes exactly).
func removeFold(s, t string) string {
	if t == "" || len(t) > len(s) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+len(t) <= len(s); {
		if equalFoldASCII(s[i:i+len(t)], t) {
			b.WriteString(s[last:i])
			i += len(t)
			last = i
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// removeDigitRuns removes every run of at least n ASCII digits.
func removeDigitRuns(s string, n int) string {
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		switch {
		case j-i >= n:
			changed = true
			i = j
		case j > i:
			b.WriteString(s[i:j])
			i = j
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	if !changed {
		return s
	}
	return b.String()
}

// identifyingNames returns the person-name attributes whose components
// Clean removes from text.
func identifyingNames() []dicom.Tag {
	return []dicom.Tag{
		dicom.PatientName,
		0x00101001, // Other Patient Names
		0x00101005, // Patient's Birth Name
		0x00101060, // Patient's Mother's Birth Name
		dicom.ReferringPhysicianName,
		0x0008009C, // Consulting Physician's Name
		0x00081048, // Physician(s) of Record
		0x00081050, // Performing Physician's Name
		0x00081060, // Name of Physician(s) Reading Study
		tagOperatorsName,
		0x00321032, // Requesting Physician
	}
}

// identifyingValues returns the attributes whose whole values Clean
// removes from text: the patient's identifiers, the institution.
func identifyingValues() []dicom.Tag {
	return []dicom.Tag{
		dicom.PatientID,
		0x00101000, // Other Patient IDs
		dicom.AccessionNumber,
		dicom.PatientBirthDate,
		dicom.InstitutionName,
		0x00080081, // Institution Address
	}
}

// identifiers collects an object's identifying values from its top level
// (and Other Patient IDs Sequence), before any change: name components of
// two or more letters, and whole values of at least two characters. They
// are sorted longest first so that a value is removed before a part of it.
func identifiers(ds *dicom.Dataset) []string {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= 2 && !seen[strings.ToLower(v)] {
			seen[strings.ToLower(v)] = true
			out = append(out, v)
		}
	}
	for _, t := range identifyingNames() {
		e := ds.Get(t)
		if e == nil {
			continue
		}
		for _, v := range e.Strings() {
			for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' }) {
				if letters(part) >= 2 {
					add(part)
				}
			}
		}
	}
	for _, t := range identifyingValues() {
		if e := ds.Get(t); e != nil {
			for _, v := range e.Strings() {
				add(v)
			}
		}
	}
	if e := ds.Get(tagOtherPatientIDsSeq); e != nil {
		for _, it := range e.Items {
			add(it.String(dicom.PatientID))
		}
	}
	slices.SortFunc(out, func(x, y string) int {
		return cmp.Or(cmp.Compare(len(y), len(x)), strings.Compare(x, y))
	})
	return out
}

func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// burnedInModality names the modalities whose pixels are known to carry
// burned-in text (demographics in ultrasound, endoscopy and photography
// overlays), "" for others.
func burnedInModality(m string) string {
	switch m {
	case "US":
		return "ultrasound"
	case "IVUS":
		return "intravascular ultrasound"
	case "XC":
		return "external-camera photography"
	case "ES":
		return "endoscopy"
	case "GM":
		return "general microscopy"
	case "OP":
		return "ophthalmic photography"
	}
	return ""
}

// burnedInClass names the SOP classes (other than secondary capture) whose
// pixels are known to carry burned-in text, "" for others.
func burnedInClass(uid string) string {
	switch uid {
	case "1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.6.1":
		return "ultrasound image"
	case "1.2.840.10008.5.1.4.1.1.3", "1.2.840.10008.5.1.4.1.1.3.1":
		return "ultrasound multi-frame image"
	case "1.2.840.10008.5.1.4.1.1.77.1.1":
		return "VL endoscopic image"
	case "1.2.840.10008.5.1.4.1.1.77.1.1.1":
		return "video endoscopic image"
	case "1.2.840.10008.5.1.4.1.1.77.1.2.1":
		return "video microscopic image"
	case "1.2.840.10008.5.1.4.1.1.77.1.4":
		return "VL photographic image"
	case "1.2.840.10008.5.1.4.1.1.77.1.4.1":
		return "video photographic image"
	}
	return ""
}

// secondaryCapture is the root of the Secondary Capture SOP classes
// (single-frame and the four multi-frame ones).
const secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"

// hold decides, on the original values, whether the object goes to
// burned-in text review, and why. BurnedInAnnotation YES always holds;
// objects of a kind known to carry burned-in text are held unless the
// trial releases their modality or SOP class without review.
func (p *Profile) hold(ds *dicom.Dataset) string {
	if strings.EqualFold(ds.String(dicom.BurnedInAnnotation), "YES") {
		return "BurnedInAnnotation (0028,0301) is YES"
	}
	class, modality := ds.String(dicom.SOPClassUID), ds.String(dicom.Modality)
	var why string
	switch {
	case class == secondaryCapture || strings.HasPrefix(class, secondaryCapture+"."):
		why = "secondary capture SOP class " + class
	case burnedInClass(class) != "":
		why = fmt.Sprintf("%s SOP class %s", burnedInClass(class), class)
	case burnedInModality(modality) != "":
		why = fmt.Sprintf("%s modality %s", burnedInModality(modality), modality)
	default:
		if e := ds.Get(dicom.ImageType); e != nil && slices.ContainsFunc(e.Strings(), func(v string) bool {
			return strings.EqualFold(v, "SCREEN SAVE")
		}) {
			why = "screen capture (ImageType SCREEN SAVE)"
		}
	}
	if why == "" || p.release[class] || p.release[modality] {
		return ""
	}
	return why + " may carry burned-in text; not released without review by the trial"
}
