package deid

import (
	"sync"

	"github.com/trialgate/trialgate/dicom"
)

// Attribute types (PS3.5 7.4) as far as the conditional rows of Table
// E.1-1 need them. Type 1C and 2C count as 1 and 2: when the attribute is
// present its condition held, and the stronger requirement keeps the
// object valid. An attribute an IOD leaves out, or has as Type 3, is absent
// from these tables.
const (
	type1 = 1
	type2 = 2
)

// Tags of the conditional rows of Table E.1-1 named below.
const (
	tagStationName                dicom.Tag = 0x00081010
	tagOperatorsName              dicom.Tag = 0x00081070
	tagReferencedPPSSequence      dicom.Tag = 0x00081111
	tagReferencedImageSequence    dicom.Tag = 0x00081140
	tagSourceImageSequence        dicom.Tag = 0x00082112
	tagDerivationImageSequence    dicom.Tag = 0x00089215
	tagAcquisitionDateTime        dicom.Tag = 0x0008002A
	tagPatientSexNeutered         dicom.Tag = 0x00102203
	tagContrastBolusAgent         dicom.Tag = 0x00180010
	tagDeviceSerialNumber         dicom.Tag = 0x00181000
	tagAcquisitionContextSequence dicom.Tag = 0x00400555
	tagContentCreatorName         dicom.Tag = 0x00700084
	tagRTPlanDate                 dicom.Tag = 0x300A0006
	tagRTPlanTime                 dicom.Tag = 0x300A0007
)

// module is the Type of the conditional-row attributes one PS3.3 module
// (or macro) defines.
type module map[dicom.Tag]uint8

// nestedType gives the Type of conditional-row attributes inside a
// sequence item where a macro defines them independently of the IOD's top
// level, keyed by {sequence, attribute}. Elsewhere a nested attribute
// resolves like the IOD's top-level one.
func nestedType(parent, t dicom.Tag) (uint8, bool) {
	switch {
	case parent == tagDerivationImageSequence && t == tagSourceImageSequence:
		// C.7.6.16.2.6 Derivation Image Functional Group: the Source Image
		// Sequence of each Derivation Image Sequence item (Type 2 or
		// stronger): keeping it, remapped, keeps the derivation resolvable.
		return type2, true
	}
	return 0, false
}

// merge combines modules into an IOD's table; where two modules define an
// attribute, the stronger Type wins.
func merge(mods ...module) module {
	m := module{}
	for _, mod := range mods {
		for t, typ := range mod {
			if old, ok := m[t]; !ok || typ < old {
				m[t] = typ
			}
		}
	}
	return m
}

// iodTypes returns, per SOP Class UID, the Type of each conditional-row
// attribute in the IOD (PS3.3 Annex A), merged from its modules. It is
// built once and never modified.
var iodTypes = sync.OnceValue(func() map[string]module {
	// PS3.3 modules whose attributes appear in conditional rows with Type 1 or
	// 2 (Type 3 attributes such as the General Series' Series Date, Operators'
	// Name and Protocol Name, the General Equipment's Institution Name,
	// Station Name and Device Serial Number, the General Image's Acquisition
	// Date/Time, Referenced Image and Source Image Sequences, and the SOP
	// Common's Instance Creation Date/Time are left out: they resolve to X).
	// C.7.1.1 Patient: Patient ID 2; Patient's Sex Neutered 2C (animals).
	modPatient := module{dicom.PatientID: type2, tagPatientSexNeutered: type2}
	// C.7.6.1 General Image: Content Date/Time 2C (temporally related images).
	modGeneralImage := module{dicom.ContentDate: type2, dicom.ContentTime: type2}
	// C.7.6.4 Contrast/Bolus: Contrast/Bolus Agent 2.
	modContrastBolus := module{tagContrastBolusAgent: type2}
	// C.8.9.1 PET Series: Series Date 1, Series Time 1.
	modPETSeries := module{dicom.SeriesDate: type1, dicom.SeriesTime: type1}
	// C.7.5.2 Enhanced General Equipment: Device Serial Number 1.
	modEnhancedEquipment := module{tagDeviceSerialNumber: type1}
	// C.7.6.16 Multi-frame Functional Groups: Content Date 1, Content Time 1.
	modMultiFrameFG := module{dicom.ContentDate: type1, dicom.ContentTime: type1}
	// C.8.15.2 Enhanced CT Image, C.8.13.1 Enhanced MR Image: Acquisition
	// DateTime 1C (original or mixed images).
	modEnhancedImage := module{tagAcquisitionDateTime: type1}
	// C.7.6.14 Acquisition Context: Acquisition Context Sequence 2.
	modAcquisitionContext := module{tagAcquisitionContextSequence: type2}
	// C.8.11.1 DX Series: Referenced Performed Procedure Step Sequence 1C
	// (present only when MPPS was used, and then required).
	modDXSeries := module{tagReferencedPPSSequence: type1}
	// C.8.8.1 RT Series: Operators' Name 2.
	modRTSeries := module{tagOperatorsName: type2}
	// C.8.8.9 RT General Plan: RT Plan Date 2, RT Plan Time 2.
	modRTGeneralPlan := module{tagRTPlanDate: type2, tagRTPlanTime: type2}
	// C.17.1 SR Document Series: Referenced Performed Procedure Step Sequence 2.
	modSRSeries := module{tagReferencedPPSSequence: type2}
	// C.17.2 SR Document General: Content Date 1, Content Time 1.
	modSRGeneral := module{dicom.ContentDate: type1, dicom.ContentTime: type1}
	// C.24.2 Encapsulated Document: Content Date 2, Content Time 2,
	// Acquisition DateTime 2.
	modEncapsulatedDocument := module{dicom.ContentDate: type2, dicom.ContentTime: type2, tagAcquisitionDateTime: type2}
	// C.10.9 Content Identification Macro (Segmentation Image): Content
	// Creator's Name 2.
	modContentIdentification := module{tagContentCreatorName: type2}
	image := merge(modPatient, modGeneralImage, modContrastBolus) // CT, MR, NM, CR, US, XA, RF, SC, RT Image
	dx := merge(image, modDXSeries, modAcquisitionContext)
	sc := merge(modPatient, modGeneralImage)
	enhanced := merge(modPatient, modEnhancedEquipment, modMultiFrameFG, modEnhancedImage, modAcquisitionContext)
	sr := merge(modPatient, modSRSeries, modSRGeneral)
	return map[string]module{
		"1.2.840.10008.5.1.4.1.1.2":     image,                                            // A.3 CT Image
		"1.2.840.10008.5.1.4.1.1.4":     image,                                            // A.4 MR Image
		"1.2.840.10008.5.1.4.1.1.128":   merge(image, modPETSeries),                       // A.21 PET Image
		"1.2.840.10008.5.1.4.1.1.20":    image,                                            // A.5 NM Image
		"1.2.840.10008.5.1.4.1.1.1":     image,                                            // A.2 CR Image
		"1.2.840.10008.5.1.4.1.1.1.1":   dx,                                               // A.26 DX Image, for presentation
		"1.2.840.10008.5.1.4.1.1.1.1.1": dx,                                               // A.26 DX Image, for processing
		"1.2.840.10008.5.1.4.1.1.1.2":   dx,                                               // A.27 Digital Mammography, for presentation
		"1.2.840.10008.5.1.4.1.1.1.2.1": dx,                                               // A.27 Digital Mammography, for processing
		"1.2.840.10008.5.1.4.1.1.6.1":   image,                                            // A.6 US Image
		"1.2.840.10008.5.1.4.1.1.3.1":   image,                                            // A.7 US Multi-frame Image
		"1.2.840.10008.5.1.4.1.1.12.1":  image,                                            // A.14 X-Ray Angiographic Image
		"1.2.840.10008.5.1.4.1.1.12.2":  image,                                            // A.16 X-Ray RF Image
		"1.2.840.10008.5.1.4.1.1.7":     sc,                                               // A.8.1 SC Image
		"1.2.840.10008.5.1.4.1.1.7.1":   sc,                                               // A.8.2 Multi-frame Single Bit SC
		"1.2.840.10008.5.1.4.1.1.7.2":   sc,                                               // A.8.3 Multi-frame Grayscale Byte SC
		"1.2.840.10008.5.1.4.1.1.7.3":   sc,                                               // A.8.4 Multi-frame Grayscale Word SC
		"1.2.840.10008.5.1.4.1.1.7.4":   sc,                                               // A.8.5 Multi-frame True Color SC
		"1.2.840.10008.5.1.4.1.1.2.1":   enhanced,                                         // A.38 Enhanced CT Image
		"1.2.840.10008.5.1.4.1.1.4.1":   enhanced,                                         // A.36 Enhanced MR Image
		"1.2.840.10008.5.1.4.1.1.481.1": merge(image, modRTSeries),                        // A.17 RT Image
		"1.2.840.10008.5.1.4.1.1.481.2": merge(modPatient, modGeneralImage, modRTSeries),  // A.18 RT Dose (General Image when grid-based)
		"1.2.840.10008.5.1.4.1.1.481.3": merge(modPatient, modRTSeries),                   // A.19 RT Structure Set
		"1.2.840.10008.5.1.4.1.1.481.5": merge(modPatient, modRTSeries, modRTGeneralPlan), // A.20 RT Plan
		"1.2.840.10008.5.1.4.1.1.66.4": merge(modPatient, modGeneralImage, modEnhancedEquipment, // A.51 Segmentation
			modMultiFrameFG, modContentIdentification),
		"1.2.840.10008.5.1.4.1.1.88.11": sr,                                         // A.35.1 Basic Text SR
		"1.2.840.10008.5.1.4.1.1.88.22": sr,                                         // A.35.2 Enhanced SR
		"1.2.840.10008.5.1.4.1.1.88.33": sr,                                         // A.35.3 Comprehensive SR
		"1.2.840.10008.5.1.4.1.1.104.1": merge(modPatient, modEncapsulatedDocument), // A.45.1 Encapsulated PDF
	}
})
