package dicom

import (
	"errors"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tt := range []struct {
		tag    Tag
		vr, kw string
		ok     bool
	}{
		{PatientName, "PN", "PatientName", true},
		{PixelData, "OB", "PixelData", true},
		{BurnedInAnnotation, "CS", "BurnedInAnnotation", true},
		{DeidentificationMethodCodeSequence, "SQ", "DeidentificationMethodCodeSequence", true},
		{NewTag(0x6002, 0x3000), "OB", "OverlayData", true}, // repeating group 60xx
		{NewTag(0x5004, 0x3000), "OB", "CurveData", true},   // repeating group 50xx (retired)
		{NewTag(0x0010, 0x0000), "UL", "GenericGroupLength", true},
		{NewTag(0x0009, 0x0010), "LO", "", true}, // private creator
		{NewTag(0x0009, 0x1001), "UN", "", true}, // private
		{NewTag(0x0010, 0x9999), "UN", "", false},
	} {
		vr, kw, ok := Lookup(tt.tag)
		if vr != tt.vr || kw != tt.kw || ok != tt.ok {
			t.Errorf("Lookup(%s) = %q %q %v, want %q %q %v", tt.tag, vr, kw, ok, tt.vr, tt.kw, tt.ok)
		}
	}
	for kw, want := range map[string]Tag{"PatientID": PatientID, "ClinicalTrialSubjectID": ClinicalTrialSubjectID, "PixelData": PixelData} {
		if got, ok := TagForKeyword(kw); !ok || got != want {
			t.Errorf("TagForKeyword(%q) = %s %v", kw, got, ok)
		}
	}
	if _, ok := TagForKeyword("Patient's Name"); ok {
		t.Error("TagForKeyword accepted a name that is not a keyword")
	}
}

// TestTagConstants checks the named constants against the dictionary.
func TestTagConstants(t *testing.T) {
	for kw, tag := range map[string]Tag{
		"SOPClassUID": SOPClassUID, "SOPInstanceUID": SOPInstanceUID, "StudyInstanceUID": StudyInstanceUID,
		"SeriesInstanceUID": SeriesInstanceUID, "FrameOfReferenceUID": FrameOfReferenceUID, "Modality": Modality,
		"PatientID": PatientID, "PatientName": PatientName, "InstanceNumber": InstanceNumber, "SeriesNumber": SeriesNumber,
		"SeriesDescription": SeriesDescription, "StudyDate": StudyDate, "StudyTime": StudyTime, "StudyID": StudyID,
		"AccessionNumber": AccessionNumber, "BurnedInAnnotation": BurnedInAnnotation, "ImageType": ImageType,
		"FloatPixelData": FloatPixelData, "DoubleFloatPixelData": DoubleFloatPixelData, "TransferSyntaxUID": TransferSyntaxUID,
		"MediaStorageSOPClassUID": MediaStorageSOPClassUID, "MediaStorageSOPInstanceUID": MediaStorageSOPInstanceUID,
		"ImplementationClassUID": ImplementationClassUID, "ImplementationVersionName": ImplementationVersionName,
		"SourceApplicationEntityTitle": SourceApplicationEntityTitle, "SpecificCharacterSet": SpecificCharacterSet,
		"ClinicalTrialSponsorName": ClinicalTrialSponsorName, "ClinicalTrialProtocolID": ClinicalTrialProtocolID,
		"ClinicalTrialSiteID": ClinicalTrialSiteID, "ClinicalTrialSubjectID": ClinicalTrialSubjectID,
		"ClinicalTrialTimePointID": ClinicalTrialTimePointID, "PatientIdentityRemoved": PatientIdentityRemoved,
		"DeidentificationMethod": DeidentificationMethod, "CodeValue": CodeValue, "CodingSchemeDesignator": CodingSchemeDesignator,
		"CodeMeaning": CodeMeaning, "SliceThickness": SliceThickness, "PixelSpacing": PixelSpacing,
		"NumberOfFrames": NumberOfFrames, "Rows": Rows, "Columns": Columns, "BitsAllocated": BitsAllocated,
		"SamplesPerPixel": SamplesPerPixel, "PatientBirthDate": PatientBirthDate, "PatientSex": PatientSex,
		"InstitutionName": InstitutionName, "StudyDescription": StudyDescription, "Manufacturer": Manufacturer,
		"ReferringPhysicianName": ReferringPhysicianName, "ClinicalTrialProtocolName": ClinicalTrialProtocolName,
		"ClinicalTrialSiteName": ClinicalTrialSiteName, "ContentDate": ContentDate, "SeriesDate": SeriesDate,
	} {
		if _, got, _ := Lookup(tag); got != kw {
			t.Errorf("%s is %q in the dictionary, named %s here", tag, got, kw)
		}
	}
}

func TestLookupSyntax(t *testing.T) {
	for _, tt := range []struct {
		uid  string
		want Syntax
	}{
		{"1.2.840.10008.1.2", Syntax{UID: "1.2.840.10008.1.2", Implicit: true}},
		{"1.2.840.10008.1.2.1\x00", Syntax{UID: "1.2.840.10008.1.2.1"}},
		{"1.2.840.10008.1.2.2", Syntax{UID: "1.2.840.10008.1.2.2", BigEndian: true}},
		{"1.2.840.10008.1.2.1.99", Syntax{UID: "1.2.840.10008.1.2.1.99", Deflated: true}},
		{"1.2.840.10008.1.2.4.50", Syntax{UID: "1.2.840.10008.1.2.4.50", Encapsulated: true}},
		{"1.2.840.10008.1.2.4.70", Syntax{UID: "1.2.840.10008.1.2.4.70", Encapsulated: true}},
		{"1.2.840.10008.1.2.4.91", Syntax{UID: "1.2.840.10008.1.2.4.91", Encapsulated: true}},
		{"1.2.840.10008.1.2.4.102", Syntax{UID: "1.2.840.10008.1.2.4.102", Encapsulated: true}},
		{"1.2.840.10008.1.2.4.112", Syntax{UID: "1.2.840.10008.1.2.4.112", Encapsulated: true}},
		{"1.2.840.10008.1.2.4.203", Syntax{UID: "1.2.840.10008.1.2.4.203", Encapsulated: true}},
		{"1.2.840.10008.1.2.5", Syntax{UID: "1.2.840.10008.1.2.5", Encapsulated: true}},
		{"1.2.840.10008.1.2.8.1", Syntax{UID: "1.2.840.10008.1.2.8.1", Encapsulated: true}},
	} {
		if got, err := LookupSyntax(tt.uid); err != nil || got != tt.want {
			t.Errorf("LookupSyntax(%q) = %+v, %v", tt.uid, got, err)
		}
	}
	for _, uid := range []string{"", "1.2.840.10008.1.2.4.49", "1.2.840.10008.1.2.1.98", "1.2.3"} {
		_, err := LookupSyntax(uid)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"`+uid+`"`) {
			t.Errorf("LookupSyntax(%q): %v", uid, err)
		}
	}
}
