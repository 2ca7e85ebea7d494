"""One DICOM Part 10 file per data row: the whole volume, multi-frame, streamed.

The IOD is **Enhanced CT Image** or **Enhanced MR Image** (by the series'
modality): the modern multi-frame IODs whose per-frame functional groups
carry each frame's ImagePositionPatient, with orientation, pixel spacing,
rescale and window shared by all frames.  pydicom, highdicom and nibabel read
them natively.  ImageType is ``DERIVED\\PRIMARY\\VOLUME\\NONE``: the pixels
are computed, not acquired, so the acquisition macros an ORIGINAL image must
carry (kVp, exposure, echo times, coils ...) are left out instead of invented.

Streaming: the header (File Meta and every element before Pixel Data) is
built once per series with pydicom from named attributes and cached; Pixel
Data follows with its explicit length, then the phantom's frames, generated
one at a time.  Any byte range can be produced without the bytes before it
(HTTP Range), and the file's size is known without producing it.
"""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Iterator
from datetime import datetime, timezone

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from lbmock.dicom.geometry import decimal_string, frame_position_ds, grid_of_frames
from lbmock.dicom.phantom import padding_value, phantom_frames
from lbmock.dicom.series import DicomSeries, uid_from
from lbmock.dicom.user_files import FileSeries
from lbmock.world import DataRow, Label

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
IMPLEMENTATION_CLASS_UID = "2.25.255290924300498335893460925848208532631"  # lbmock's own, fixed
IMPLEMENTATION_VERSION = "LBMOCK_0_1"
BYTES_PER_PIXEL = 2  # BitsAllocated 16, one sample
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010), little endian


def _seq(**attributes: object) -> Sequence:
    """A sequence of one item with ``attributes``."""
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return Sequence([item])


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _dicom_datetime(ms: int) -> tuple[str, str, str]:
    """(DA, TM, DT) of epoch ms, UTC."""
    t = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return t.strftime("%Y%m%d"), t.strftime("%H%M%S"), t.strftime("%Y%m%d%H%M%S") + "+0000"


def header_dataset(series: DicomSeries) -> Dataset:
    """Every element of the file but Pixel Data, as a pydicom Dataset (with its File Meta)."""
    volume, g = series.volume, series.geometry
    ct = series.modality == "CT"
    sop_class = ENHANCED_CT if ct else ENHANCED_MR
    day, time, stamp = _dicom_datetime(series.acquired_at)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = series.sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "PRIMARY", "VOLUME", "NONE"]
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, series.sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = day
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AcquisitionDateTime = stamp
    ds.AccessionNumber = ""
    ds.Modality = series.modality
    ds.Manufacturer = "lbmock"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "lbmock synthetic phantom"
    ds.SeriesDescription = f"lbmock phantom {series.modality} {volume.cols}x{volume.rows}x{volume.slices}"
    ds.ManufacturerModelName = "lbmock phantom"
    ds.PatientName = series.patient_name  # synthetic: no real person behind any of these
    ds.PatientID = series.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic data: no patient"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "lbmock 0.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = series.study_uid, series.series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.PatientPosition = series.patient_position  # HFS unless a variant turns the patient (the cosines follow)
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = series.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = "synthetic phantom: each labelled structure has its own value"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    ds.ContentQualification = "RESEARCH"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.PixelPresentation = "MONOCHROME"
    if not ct:
        ds.ComplexImageComponent = "MAGNITUDE"
        ds.AcquisitionContrast = "UNKNOWN"
        ds.ApplicableSafetyStandardAgency = "IEC"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = volume.slices
    ds.Rows, ds.Columns = volume.rows, volume.cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, series.bits_stored, series.bits_stored - 1
    ds.PixelRepresentation = series.pixel_representation
    padding = padding_value(series)
    if padding is not None:  # General Equipment module; US or SS as PixelRepresentation says
        ds.PixelPaddingValue = padding
    ds.AcquisitionContextSequence = Sequence()

    # Multi-frame Dimension: frames are one stack, ordered by In-Stack Position Number.
    dimension_uid = uid_from(series.noise_seed, "dimension-organization")
    ds.DimensionOrganizationSequence = _seq(DimensionOrganizationUID=dimension_uid)
    ds.DimensionOrganizationType = "3D"
    stack, position = Dataset(), Dataset()
    for item, pointer in ((stack, 0x00209056), (position, 0x00209057)):  # StackID, InStackPositionNumber
        item.DimensionOrganizationUID = dimension_uid
        item.DimensionIndexPointer = pointer
        item.FunctionalGroupPointer = 0x00209111  # FrameContentSequence
    ds.DimensionIndexSequence = Sequence([stack, position])

    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(
        PixelSpacing=[decimal_string(g.row_spacing), decimal_string(g.column_spacing)],
        SliceThickness=decimal_string(g.slice_thickness), SpacingBetweenSlices=decimal_string(g.slice_spacing))
    shared.PlaneOrientationSequence = _seq(
        ImageOrientationPatient=[decimal_string(v) for v in (*g.row_cosine, *g.column_cosine)])
    shared.PixelValueTransformationSequence = _seq(
        RescaleIntercept=decimal_string(series.rescale_intercept), RescaleSlope=decimal_string(series.rescale_slope),
        RescaleType=series.rescale_type)
    shared.FrameVOILUTSequence = _seq(WindowCenter=decimal_string(series.window_center),
                                      WindowWidth=decimal_string(series.window_width))
    shared.FrameAnatomySequence = _seq(AnatomicRegionSequence=Sequence([_code("38266002", "SCT", "Entire body")]),
                                       FrameLaterality="U")
    frame_type = {"FrameType": list(ds.ImageType), "PixelPresentation": "MONOCHROME",
                  "VolumetricProperties": "VOLUME", "VolumeBasedCalculationTechnique": "NONE"}
    if ct:
        shared.CTImageFrameTypeSequence = _seq(**frame_type)
        shared.IrradiationEventIdentificationSequence = _seq(
            IrradiationEventUID=uid_from(series.noise_seed, "irradiation-event"))
    else:
        shared.MRImageFrameTypeSequence = _seq(**frame_type, ComplexImageComponent="MAGNITUDE",
                                               AcquisitionContrast="UNKNOWN")
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    per_frame = []
    # In-Stack Position Number: the frame's rank along the stack (file order unless frames are stored
    # out of spatial order), consecutive from 1 even across a missing slice (PS3.3 C.7.6.16.2.2.4)
    ks = grid_of_frames(series)
    rank = {k: n for n, k in enumerate(sorted(ks), start=1)}
    for f in range(1, volume.slices + 1):
        item = Dataset()
        position = rank[ks[f - 1]]
        item.FrameContentSequence = _seq(FrameAcquisitionDateTime=stamp, FrameReferenceDateTime=stamp,
                                         FrameAcquisitionDuration=0.0, StackID="1", InStackPositionNumber=position,
                                         DimensionIndexValues=[1, position])
        item.PlanePositionSequence = _seq(ImagePositionPatient=list(frame_position_ds(g, f)))
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    return ds


def frame_size(series: DicomSeries) -> int:
    return series.volume.rows * series.volume.cols * BYTES_PER_PIXEL


@functools.lru_cache(maxsize=32)
def header_bytes(series: DicomSeries) -> bytes:
    """Preamble, File Meta, every element before Pixel Data, and Pixel Data's own header."""
    out = io.BytesIO()
    dcmwrite(out, header_dataset(series), enforce_file_format=True)
    pixels = frame_size(series) * series.volume.slices  # even: two bytes a pixel
    return out.getvalue() + _PIXEL_DATA_TAG + b"OW\x00\x00" + struct.pack("<I", pixels)


def file_size(series: DicomSeries) -> int:
    """The size of the row's Part 10 file, known without producing its pixels."""
    if isinstance(series, FileSeries):  # a user's file (world option dicom_dir): served as it is
        return series.check_unchanged()
    return len(header_bytes(series)) + frame_size(series) * series.volume.slices


def part10_chunks(row: DataRow, start: int = 0, end: int | None = None,
                  label: Label | None = None) -> Iterator[bytes]:
    """Bytes ``start..end-1`` (default: all) of the row's Part 10 file, one frame at a time at most.

    Only the frames the range touches are produced.
    """
    series = row.series
    if isinstance(series, FileSeries):
        yield from series.chunks(start, end)
        return
    header = header_bytes(series)
    size = file_size(series)
    end = size if end is None else min(end, size)
    if start >= end:
        return
    if start < len(header):
        yield header[start:min(end, len(header))]
        if end <= len(header):
            return
    frame_bytes = frame_size(series)
    first = max(0, start - len(header)) // frame_bytes
    offset = len(header) + first * frame_bytes  # file offset of frame ``first``
    for frame in phantom_frames(row, label, start=first):
        data = frame.tobytes()
        lo, hi = max(start - offset, 0), min(end - offset, frame_bytes)
        yield data[lo:hi] if (lo, hi) != (0, frame_bytes) else data
        offset += frame_bytes
        if offset >= end:
            return


def part10_bytes(row: DataRow, label: Label | None = None) -> bytes:
    """The whole file in memory: for tests and small volumes (serving streams :func:`part10_chunks`)."""
    return b"".join(part10_chunks(row, label=label))
