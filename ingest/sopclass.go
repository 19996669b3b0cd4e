package ingest

// imageSOPClasses are the storage SOP classes whose IOD makes pixel data
// mandatory, with their names: an instance of one of them without Pixel
// Data (7FE0,0010), Float Pixel Data (7FE0,0008) or Double Float Pixel Data
// (7FE0,0009) does not match its SOP class, and is most likely a partial
// upload cut off before its pixels.
//
// Source: the Standard SOP Classes of the Storage Service Class (DICOM
// PS3.4 Table B.5-1, UIDs and names as PS3.6 Annex A registers them,
// retired classes included), keeping those whose IOD in PS3.3 Annex A lists
// the Image Pixel module (C.7.6.3) as M, or, for Parametric Map (A.75),
// requires exactly one of the Image Pixel, Floating Point Image Pixel and
// Double Floating Point Image Pixel modules. Left out on purpose: IODs
// where pixel data is conditional (RT Dose, A.18: only for grid-based
// dose) or absent (MR Spectroscopy, SR, presentation states, waveforms,
// encapsulated documents, RT plans and structure sets, measurements,
// registrations, surfaces, raw data), and the non-medical DICOS and DICONDE
// classes. The list follows PS3.6 as of 2022; classes registered since
// (e.g. Photoacoustic, Confocal Microscopy, Enhanced RT Image) are not
// checked for pixel data until added here.
var imageSOPClasses = map[string]string{
	"1.2.840.10008.5.1.4.1.1.1":        "Computed Radiography Image Storage",
	"1.2.840.10008.5.1.4.1.1.1.1":      "Digital X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.1.1.1":    "Digital X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.1.2":      "Digital Mammography X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.1.2.1":    "Digital Mammography X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.1.3":      "Digital Intra-Oral X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.1.3.1":    "Digital Intra-Oral X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.2":        "CT Image Storage",
	"1.2.840.10008.5.1.4.1.1.2.1":      "Enhanced CT Image Storage",
	"1.2.840.10008.5.1.4.1.1.2.2":      "Legacy Converted Enhanced CT Image Storage",
	"1.2.840.10008.5.1.4.1.1.3":        "Ultrasound Multi-frame Image Storage (Retired)",
	"1.2.840.10008.5.1.4.1.1.3.1":      "Ultrasound Multi-frame Image Storage",
	"1.2.840.10008.5.1.4.1.1.4":        "MR Image Storage",
	"1.2.840.10008.5.1.4.1.1.4.1":      "Enhanced MR Image Storage",
	"1.2.840.10008.5.1.4.1.1.4.3":      "Enhanced MR Color Image Storage",
	"1.2.840.10008.5.1.4.1.1.4.4":      "Legacy Converted Enhanced MR Image Storage",
	"1.2.840.10008.5.1.4.1.1.5":        "Nuclear Medicine Image Storage (Retired)",
	"1.2.840.10008.5.1.4.1.1.6":        "Ultrasound Image Storage (Retired)",
	"1.2.840.10008.5.1.4.1.1.6.1":      "Ultrasound Image Storage",
	"1.2.840.10008.5.1.4.1.1.6.2":      "Enhanced US Volume Storage",
	"1.2.840.10008.5.1.4.1.1.7":        "Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.1":      "Multi-frame Single Bit Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.2":      "Multi-frame Grayscale Byte Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.3":      "Multi-frame Grayscale Word Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.7.4":      "Multi-frame True Color Secondary Capture Image Storage",
	"1.2.840.10008.5.1.4.1.1.12.1":     "X-Ray Angiographic Image Storage",
	"1.2.840.10008.5.1.4.1.1.12.1.1":   "Enhanced XA Image Storage",
	"1.2.840.10008.5.1.4.1.1.12.2":     "X-Ray Radiofluoroscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.12.2.1":   "Enhanced XRF Image Storage",
	"1.2.840.10008.5.1.4.1.1.12.3":     "X-Ray Angiographic Bi-Plane Image Storage (Retired)",
	"1.2.840.10008.5.1.4.1.1.13.1.1":   "X-Ray 3D Angiographic Image Storage",
	"1.2.840.10008.5.1.4.1.1.13.1.2":   "X-Ray 3D Craniofacial Image Storage",
	"1.2.840.10008.5.1.4.1.1.13.1.3":   "Breast Tomosynthesis Image Storage",
	"1.2.840.10008.5.1.4.1.1.13.1.4":   "Breast Projection X-Ray Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.13.1.5":   "Breast Projection X-Ray Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.14.1":     "Intravascular Optical Coherence Tomography Image Storage - For Presentation",
	"1.2.840.10008.5.1.4.1.1.14.2":     "Intravascular Optical Coherence Tomography Image Storage - For Processing",
	"1.2.840.10008.5.1.4.1.1.20":       "Nuclear Medicine Image Storage",
	"1.2.840.10008.5.1.4.1.1.30":       "Parametric Map Storage",
	"1.2.840.10008.5.1.4.1.1.66.4":     "Segmentation Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.1":   "VL Endoscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.1.1": "Video Endoscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.2":   "VL Microscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.2.1": "Video Microscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.3":   "VL Slide-Coordinates Microscopic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.4":   "VL Photographic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.4.1": "Video Photographic Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.1": "Ophthalmic Photography 8 Bit Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.2": "Ophthalmic Photography 16 Bit Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.4": "Ophthalmic Tomography Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.5": "Wide Field Ophthalmic Photography Stereographic Projection Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.6": "Wide Field Ophthalmic Photography 3D Coordinates Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.7": "Ophthalmic Optical Coherence Tomography En Face Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.5.8": "Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.6":   "VL Whole Slide Microscopy Image Storage",
	"1.2.840.10008.5.1.4.1.1.77.1.7":   "Dermoscopic Photography Image Storage",
	"1.2.840.10008.5.1.4.1.1.81.1":     "Ophthalmic Thickness Map Storage",
	"1.2.840.10008.5.1.4.1.1.82.1":     "Corneal Topography Map Storage",
	"1.2.840.10008.5.1.4.1.1.128":      "Positron Emission Tomography Image Storage",
	"1.2.840.10008.5.1.4.1.1.128.1":    "Legacy Converted Enhanced PET Image Storage",
	"1.2.840.10008.5.1.4.1.1.130":      "Enhanced PET Image Storage",
	"1.2.840.10008.5.1.4.1.1.481.1":    "RT Image Storage",
}
