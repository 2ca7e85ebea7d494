"""One DICOM Part 10 file per data row: the whole volume, multi-frame, streamed.

The IOD is **Enhanced CT Image** or **Enhanced MR Image** (by the series'
modality): the modern multi-frame IODs whose per-frame functional groups
carry each frame's ImagePositionPatient, with orientation, pixel spacing,
rescale and window shared by all frames.  pydicom, highdicom and nibabel read
them natively.  Under MONOCHROME1 (variant ``monochrome1``), which those two
IODs forbid, it is **Enhanced XA Image**, whose image module allows it, the
patient-space functional groups kept as Standard Extended attributes.
ImageType is ``DERIVED\\PRIMARY\\VOLUME\\NONE``: the pixels are computed,
not acquired, so the acquisition macros an ORIGINAL image must carry (kVp,
exposure, echo times, coils ...) are left out instead of invented.

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
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from lbmock.dicom.geometry import decimal_string, frame_position_ds, grid_of_frames
from lbmock.dicom.phantom import inverted, padding_value, phantom_frames, read_value
from lbmock.dicom.series import (
    ENCODER_PLUGINS,
    J2K_MIN_SIDE,
    DicomSeries,
    uid_from,
)
from lbmock.dicom.user_files import FileSeries
from lbmock.world import DataRow, Label

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ENHANCED_XA = "1.2.840.10008.5.1.4.1.1.12.1.1"
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
    xa = inverted(series)  # MONOCHROME1: Enhanced XA (PS3.3 C.8.19.2), as Enhanced CT and MR allow only MONOCHROME2
    sop_class = ENHANCED_XA if xa else ENHANCED_CT if ct else ENHANCED_MR
    day, time, stamp = _dicom_datetime(series.acquired_at)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = series.sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian  # compressed_layout rewrites File Meta for the others
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
    ds.Modality = "XA" if xa else series.modality
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
    ds.PresentationLUTShape = "INVERSE" if xa else "IDENTITY"  # the XA/XRF image module: INVERSE with MONOCHROME1
    ds.ContentQualification = "RESEARCH"
    if xa:  # Enhanced XA/XRF Image module: one plane, no C-arm geometry to describe
        ds.PlanesInAcquisition = "MONOPLANE"
        ds.PlaneIdentification = "MONOPLANE"
    else:
        ds.VolumetricProperties = "VOLUME"
        ds.VolumeBasedCalculationTechnique = "NONE"
        ds.PixelPresentation = "MONOCHROME"
    if not ct and not xa:
        ds.ComplexImageComponent = "MAGNITUDE"
        ds.AcquisitionContrast = "UNKNOWN"
        ds.ApplicableSafetyStandardAgency = "IEC"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = series.photometric_interpretation
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
        RescaleType="US" if xa else series.rescale_type)  # mirrored values are no longer HU
    shared.FrameVOILUTSequence = _seq(WindowCenter=decimal_string(read_value(series, series.window_center)),
                                      WindowWidth=decimal_string(series.window_width))
    shared.FrameAnatomySequence = _seq(AnatomicRegionSequence=Sequence([_code("38266002", "SCT", "Entire body")]),
                                       FrameLaterality="U")
    frame_type = {"FrameType": list(ds.ImageType), "PixelPresentation": "MONOCHROME",
                  "VolumetricProperties": "VOLUME", "VolumeBasedCalculationTechnique": "NONE"}
    if xa:  # X-Ray Frame Pixel Data Properties: linear in the (mirrored) values, lower where less X-ray got through
        shared.FramePixelDataPropertiesSequence = _seq(
            FrameType=list(ds.ImageType), PixelIntensityRelationship="LIN", PixelIntensityRelationshipSign=1,
            GeometricalProperties="UNIFORM", ImageProcessingApplied="NONE")
    elif ct:
        shared.CTImageFrameTypeSequence = _seq(**frame_type)
    else:
        shared.MRImageFrameTypeSequence = _seq(**frame_type, ComplexImageComponent="MAGNITUDE",
                                               AcquisitionContrast="UNKNOWN")
    if ct or xa:  # X-ray images name their irradiation event
        shared.IrradiationEventIdentificationSequence = _seq(
            IrradiationEventUID=uid_from(series.noise_seed, "irradiation-event"))
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
    """Preamble, File Meta, every element before Pixel Data, and Pixel Data's own header.

    Compressed transfer syntaxes (:func:`compressed_layout`) put their own after the preamble and
    File Meta.
    """
    out = io.BytesIO()
    dcmwrite(out, header_dataset(series), enforce_file_format=True)
    pixels = frame_size(series) * series.volume.slices  # even: two bytes a pixel
    return out.getvalue() + _PIXEL_DATA_TAG + b"OW\x00\x00" + struct.pack("<I", pixels)


def file_size(series: DicomSeries, row: DataRow | None = None, label: Label | None = None) -> int:
    """The size of the row's Part 10 file, known without producing its pixels (a compressed
    transfer syntax: ``row`` is needed, its frames are encoded once to learn their sizes)."""
    if isinstance(series, FileSeries):  # a user's file (world option dicom_dir): served as it is
        return series.check_unchanged()
    if series.transfer_syntax != ExplicitVRLittleEndian:
        if row is None:
            raise ValueError("the size of a compressed file depends on its pixels: pass its row")
        header, sizes, trailer = compressed_layout(row, label)
        return len(header) + sum(sizes) + len(trailer)
    return len(header_bytes(series)) + frame_size(series) * series.volume.slices


# ---------------------------------------------------------------- compressed transfer syntaxes
#
# RLE Lossless, JPEG-LS Lossless, JPEG 2000 Lossless and JPEG Lossless SV1 (PS3.5 A.4, G, A.4.3,
# A.4.4, A.4.1): Pixel Data is encapsulated, one fragment per frame, each encoded by a maintained
# encoder (series.ENCODER_PLUGINS: pydicom's own RLE, its pyjpegls and pylibjpeg plugins, imagecodecs),
# after a Basic Offset Table holding every frame's offset, or an empty one and an Extended Offset
# Table (asked for, or needed once an offset passes 32 bits).  Deflated
# Explicit VR Little Endian (A.5): everything after File Meta is one raw deflate stream; each frame
# is deflated on its own and ended with a full flush (byte-aligned, no back-reference to earlier
# bytes), so any frame can be produced without the ones before it.  Either way a frame's size is
# known only once it is encoded: the sizes are computed once per row (cached) for Content-Length,
# offsets and Range.

_ITEM = b"\xfe\xff\x00\xe0"                             # (FFFE,E000) Item
_EXTENDED_OFFSET_TABLE_TAG = b"\xe0\x7f\x01\x00"        # (7FE0,0001), little endian
_EXTENDED_OFFSET_LENGTHS_TAG = b"\xe0\x7f\x02\x00"      # (7FE0,0002)
_BASIC_OFFSET_LIMIT = 2**32 - 1  # a Basic Offset Table's offsets are 32-bit: past this, the Extended one
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"     # (FFFE,E0DD) Sequence Delimitation Item


def _ov(tag: bytes, value: bytes) -> bytes:
    """An OV element, explicit VR little endian (a 4-byte length after two reserved bytes)."""
    return tag + b"OV\x00\x00" + struct.pack("<I", len(value)) + value


def _encode_frame(series: DicomSeries, frame: np.ndarray) -> bytes:
    """One frame as its transfer syntax stores it (the encapsulating item or flushed deflate block)."""
    if series.transfer_syntax in ENCODER_PLUGINS:  # encapsulated: one item a frame
        plugin = ENCODER_PLUGINS[series.transfer_syntax][0]
        if plugin == "imagecodecs":
            data = _jpeg_lossless_sv1(series, frame)
        elif plugin == "pylibjpeg" and min(series.volume.rows, series.volume.cols) < J2K_MIN_SIDE:
            raise ValueError(f"JPEG 2000: pylibjpeg-openjpeg encodes no frame under {J2K_MIN_SIDE} pixels a side; "
                             f"this one is {series.volume.cols}x{series.volume.rows}")
        else:
            from pydicom.pixels.encoders.base import get_encoder

            data = get_encoder(series.transfer_syntax).encode(
                frame, rows=series.volume.rows, columns=series.volume.cols, samples_per_pixel=1, bits_allocated=16,
                bits_stored=series.bits_stored, pixel_representation=series.pixel_representation,
                photometric_interpretation=series.photometric_interpretation, number_of_frames=1,
                encoding_plugin=plugin)
        data += b"\x00" * (len(data) % 2)  # items hold an even number of bytes
        return _ITEM + struct.pack("<I", len(data)) + data
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate, as A.5 says
    return deflate.compress(frame.tobytes()) + deflate.flush(zlib.Z_FULL_FLUSH)


def _jpeg_lossless_sv1(series: DicomSeries, frame: np.ndarray) -> bytes:
    """One frame as JPEG Lossless Process 14, first-order prediction (Selection Value 1): pydicom has no
    encoder for it; imagecodecs' libjpeg-turbo (3.0 and later) encodes it.  JPEG samples are unsigned:
    signed stored values go as their two's-complement bits (BitsStored of them), as PS3.5 8.2.1 says."""
    import imagecodecs  # late: imagecodecs (extra jpeglossless) only for worlds that ask for it

    bits = series.bits_stored
    samples = frame.view(np.uint16) & np.uint16((1 << bits) - 1) if series.pixel_representation else frame
    return imagecodecs.jpeg8_encode(samples, lossless=True, predictor=1, bitspersample=bits)


@functools.lru_cache(maxsize=8)
def compressed_layout(row: DataRow, label: Label | None = None) -> tuple[bytes, tuple[int, ...], bytes]:
    """(everything before the first frame, each frame's encoded size, everything after the last)."""
    series = row.series
    sizes = tuple(len(_encode_frame(series, frame)) for frame in phantom_frames(row, label))
    meta = FileMetaDataset(header_dataset(series).file_meta)
    meta.TransferSyntaxUID = series.transfer_syntax
    preamble = DicomBytesIO()
    preamble.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(preamble, meta, enforce_standard=True)
    plain = header_bytes(series)
    meta_end = 132 + 12 + struct.unpack_from("<I", plain, 132 + 8)[0]  # (0002,0000) UL: File Meta's length
    body = plain[meta_end:-12]  # the dataset before Pixel Data, explicit VR little endian
    if series.transfer_syntax in ENCODER_PLUGINS:
        offsets = [0]
        for size in sizes[:-1]:
            offsets.append(offsets[-1] + size)
        if series.extended_offset_table or offsets[-1] > _BASIC_OFFSET_LIMIT:
            # PS3.5 A.4: an empty Basic Offset Table, the offsets (and each fragment's length, item
            # header excluded) as 64-bit values in (7FE0,0001) and (7FE0,0002), which precede Pixel Data
            body += _ov(_EXTENDED_OFFSET_TABLE_TAG, struct.pack(f"<{len(sizes)}Q", *offsets))
            body += _ov(_EXTENDED_OFFSET_LENGTHS_TAG, struct.pack(f"<{len(sizes)}Q", *(n - 8 for n in sizes)))
            table = _ITEM + b"\x00\x00\x00\x00"
        else:
            table = _ITEM + struct.pack("<I", 4 * len(sizes)) + struct.pack(f"<{len(sizes)}I", *offsets)
        pixel_header = _PIXEL_DATA_TAG + b"OB\x00\x00\xff\xff\xff\xff" + table  # undefined length
        return preamble.getvalue() + body + pixel_header, sizes, _SEQUENCE_END
    # Deflated: Pixel Data with its explicit length (the bytes are native), then the deflated frames
    pixel_header = _PIXEL_DATA_TAG + b"OW\x00\x00" + struct.pack("<I", frame_size(series) * series.volume.slices)
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    start = deflate.compress(body + pixel_header) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(6, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # the final (empty) block
    return preamble.getvalue() + start, sizes, end


def _compressed_chunks(row: DataRow, start: int, end: int | None, label: Label | None) -> Iterator[bytes]:
    header, sizes, trailer = compressed_layout(row, label)
    pieces_end = len(header) + sum(sizes)
    size = pieces_end + len(trailer)
    end = size if end is None else min(end, size)
    if start >= end:
        return
    if start < len(header):
        yield header[start:min(end, len(header))]
    offset, first = len(header), 0
    while first < len(sizes) and offset + sizes[first] <= start:  # skip the frames before the range
        offset += sizes[first]
        first += 1
    if first < len(sizes) and offset < end:
        for k, frame in enumerate(phantom_frames(row, label, start=first), start=first):
            data = _encode_frame(row.series, frame)
            yield data[max(start - offset, 0):min(end - offset, len(data))]
            offset += sizes[k]
            if offset >= end:
                break
    if end > pieces_end:
        yield trailer[max(start - pieces_end, 0):end - pieces_end]


def part10_chunks(row: DataRow, start: int = 0, end: int | None = None,
                  label: Label | None = None) -> Iterator[bytes]:
    """Bytes ``start..end-1`` (default: all) of the row's Part 10 file, one frame at a time at most.

    Only the frames the range touches are produced.
    """
    series = row.series
    if isinstance(series, FileSeries):
        yield from series.chunks(start, end)
        return
    if series.transfer_syntax != ExplicitVRLittleEndian:
        yield from _compressed_chunks(row, start, end, label)
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
