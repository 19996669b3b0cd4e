package dicom

import (
	"regexp"
	"sync"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// Tags the gateway reads or writes by name.
const (
	FileMetaInformationGroupLength Tag = 0x00020000
	FileMetaInformationVersion     Tag = 0x00020001
	MediaStorageSOPClassUID        Tag = 0x00020002
	MediaStorageSOPInstanceUID     Tag = 0x00020003
	TransferSyntaxUID              Tag = 0x00020010
	ImplementationClassUID         Tag = 0x00020012
	ImplementationVersionName      Tag = 0x00020013
	SourceApplicationEntityTitle   Tag = 0x00020016

	SpecificCharacterSet   Tag = 0x00080005
	ImageType              Tag = 0x00080008
	SOPClassUID            Tag = 0x00080016
	SOPInstanceUID         Tag = 0x00080018
	StudyDate              Tag = 0x00080020
	SeriesDate             Tag = 0x00080021
	AcquisitionDate        Tag = 0x00080022
	ContentDate            Tag = 0x00080023
	StudyTime              Tag = 0x00080030
	SeriesTime             Tag = 0x00080031
	AcquisitionTime        Tag = 0x00080032
	ContentTime            Tag = 0x00080033
	AccessionNumber        Tag = 0x00080050
	Modality               Tag = 0x00080060
	Manufacturer           Tag = 0x00080070
	InstitutionName        Tag = 0x00080080
	ReferringPhysicianName Tag = 0x00080090
	CodeValue              Tag = 0x00080100
	CodingSchemeDesignator Tag = 0x00080102
	CodeMeaning            Tag = 0x00080104
	StudyDescription       Tag = 0x00081030
	SeriesDescription      Tag = 0x0008103E

	PatientName      Tag = 0x00100010
	PatientID        Tag = 0x00100020
	PatientBirthDate Tag = 0x00100030
	PatientSex       Tag = 0x00100040

	ClinicalTrialSponsorName           Tag = 0x00120010
	ClinicalTrialProtocolID            Tag = 0x00120020
	ClinicalTrialProtocolName          Tag = 0x00120021
	ClinicalTrialSiteID                Tag = 0x00120030
	ClinicalTrialSiteName              Tag = 0x00120031
	ClinicalTrialSubjectID             Tag = 0x00120040
	ClinicalTrialTimePointID           Tag = 0x00120050
	PatientIdentityRemoved             Tag = 0x00120062
	DeidentificationMethod             Tag = 0x00120063
	DeidentificationMethodCodeSequence Tag = 0x00120064

	SliceThickness Tag = 0x00180050

	StudyInstanceUID    Tag = 0x0020000D
	SeriesInstanceUID   Tag = 0x0020000E
	StudyID             Tag = 0x00200010
	SeriesNumber        Tag = 0x00200011
	InstanceNumber      Tag = 0x00200013
	FrameOfReferenceUID Tag = 0x00200052

	SamplesPerPixel           Tag = 0x00280002
	PhotometricInterpretation Tag = 0x00280004
	NumberOfFrames            Tag = 0x00280008
	Rows                      Tag = 0x00280010
	Columns                   Tag = 0x00280011
	PixelSpacing              Tag = 0x00280030
	BitsAllocated             Tag = 0x00280100
	PixelRepresentation       Tag = 0x00280103
	BurnedInAnnotation        Tag = 0x00280301

	ExtendedOffsetTable        Tag = 0x7FE00001
	ExtendedOffsetTableLengths Tag = 0x7FE00002
	FloatPixelData             Tag = 0x7FE00008
	DoubleFloatPixelData       Tag = 0x7FE00009
	PixelData                  Tag = 0x7FE00010

	ItemTag              Tag = 0xFFFEE000
	ItemDelimitation     Tag = 0xFFFEE00D
	SequenceDelimitation Tag = 0xFFFEE0DD
)

// Lookup returns the VR and keyword of t from the DICOM dictionary. Tags
// of the repeating groups 50xx and 60xx are looked up as 5000 and 6000;
// group lengths (gggg,0000) are UL. A private creator (gggg,0010-00FF)
// is LO and any other private tag UN, both with ok true and no keyword.
// Where the dictionary allows several VRs (US or SS, OB or OW), the first
// is returned.
func Lookup(t Tag) (vr, keyword string, ok bool) {
	if t.IsPrivate() {
		if t.IsPrivateCreator() {
			return "LO", "", true
		}
		if t.Element() == 0 {
			return "UL", "", true // private group length
		}
		return "UN", "", true
	}
	vrs, keyword, ok := dictEntry(t)
	if !ok || len(vrs) == 0 {
		return "UN", "", false
	}
	vr = vrs[0]
	if len(vr) != 2 { // the dictionary marks a few tags "See Note"
		vr = "UN"
	}
	return vr, keyword, true
}

// dictEntry returns the dictionary's VRs and keyword of the public tag
// t, looking up tags of the repeating groups 50xx and 60xx as 5000 and
// 6000.
func dictEntry(t Tag) (vrs []string, keyword string, ok bool) {
	g := t.Group()
	if g&0xFF00 == 0x5000 || g&0xFF00 == 0x6000 {
		g &= 0xFF00
	}
	info, err := tag.Find(tag.Tag{Group: g, Element: t.Element()})
	if err != nil {
		return nil, "", false
	}
	return info.VRs, info.Keyword, true
}

// TagForKeyword returns the tag with DICOM keyword kw ("PatientID").
func TagForKeyword(kw string) (Tag, bool) {
	if v, ok := keywords.Load(kw); ok {
		r := v.(keywordResult)
		return r.tag, r.ok
	}
	var r keywordResult
	info, err := tag.FindByKeyword(kw)
	if err == nil && info.Keyword == kw {
		r = keywordResult{NewTag(info.Tag.Group, info.Tag.Element), true}
	}
	keywords.Store(kw, r)
	return r.tag, r.ok
}

// keywords memoises TagForKeyword: the dictionary offers no keyword index,
// only a scan of every entry (tens of microseconds), and the keywords
// asked for are few (those of trial QC rules). It caches a pure function
// of the immutable dictionary, so sharing it is safe.
var keywords sync.Map

type keywordResult struct {
	tag Tag
	ok  bool
}

// vrOf returns the VR under which an element with tag t is encoded when
// the data set does not say (implicit VR).
func vrOf(t Tag) string {
	switch t {
	case PixelData:
		return "OW" // PS3.5 A.1: native Pixel Data in implicit VR is OW
	case ItemTag, ItemDelimitation, SequenceDelimitation:
		return ""
	}
	vr, _, _ := Lookup(t)
	return vr
}

// uidPattern is the form of a UID (PS3.5 section 9.1): numeric components
// without leading zeros, separated by dots.
var uidPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$`)

// modalityPattern is the form of a Modality (0008,0060) value as trial
// definitions name it: the defined terms are upper-case letters and digits.
var modalityPattern = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)

// ValidUID reports whether s has the form of a UID: numeric components
// without leading zeros, separated by dots. Its length is the caller's to
// check (a UI value holds at most 64 characters).
func ValidUID(s string) bool { return uidPattern.MatchString(s) }

// ValidModality reports whether s has the form of a Modality value: 1 to 16
// upper-case letters and digits.
func ValidModality(s string) bool { return modalityPattern.MatchString(s) }
