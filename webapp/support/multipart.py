"""Reading a multipart/form-data request into text fields and `RawUpload`s (API and portal).

The body is parsed here instead of through `request.form`, with a stream factory that keeps at most
`max_bytes + 1` bytes of each file part (the rest is counted, not stored), so a 25 MB part never sits in
memory or in a temporary file; the whole body is still bounded by MAX_CONTENT_LENGTH. Parse failures
become the support domain's typed errors: a file in another field, a malformed body, a body too large.
"""
from __future__ import annotations

import tempfile
from typing import IO

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from .errors import InvalidMultipart, RequestTooLarge, UnexpectedFileField
from .uploads import RawUpload

SPOOL_BYTES = 512 * 1024


class CappedSpool:
    """A writable/readable file that stores at most `cap` bytes and counts everything written."""

    def __init__(self, cap: int):
        self.cap = cap
        self.size = 0
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)

    def write(self, data: bytes) -> int:
        room = self.cap - self._file.tell() if self.size < self.cap else 0
        if room > 0:
            self._file.write(data[:room])
        self.size += len(data)
        return len(data)

    def read(self, *args) -> bytes:
        return self._file.read(*args)

    def readline(self, *args) -> bytes:
        return self._file.readline(*args)

    def seek(self, *args) -> int:
        return self._file.seek(*args)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()

    def __iter__(self):
        return iter(self._file)


def is_multipart(request: Request) -> bool:
    return request.mimetype == "multipart/form-data"


def read_multipart(request: Request, *, file_field: str, max_bytes: int) -> tuple[dict, list[RawUpload]]:
    """(text fields, files of `file_field`). A field sent twice becomes a list, like the query string."""
    spools: list[CappedSpool] = []

    def factory(total_content_length=None, content_type=None, filename=None, content_length=None) -> IO[bytes]:
        spool = CappedSpool(max_bytes + 1)
        spools.append(spool)
        return spool  # type: ignore[return-value]

    parser = FormDataParser(stream_factory=factory, max_form_memory_size=request.max_form_memory_size,
                            max_content_length=request.max_content_length, max_form_parts=request.max_form_parts,
                            cls=MultiDict, silent=False)
    try:
        _, form, files = parser.parse(request.stream, request.mimetype, request.content_length,
                                      request.mimetype_params)
    except RequestEntityTooLarge:
        raise RequestTooLarge() from None
    except (ValueError, UnicodeError, EOFError):
        raise InvalidMultipart() from None
    fields: dict = {}
    for key in form:
        values = form.getlist(key)
        fields[key] = values[0] if len(values) == 1 else values
    uploads = []
    for key, storage in files.items(multi=True):
        if key != file_field:
            raise UnexpectedFileField(field=key)
        if not storage.filename:
            # No file name: multer treated the part as a text field, which the body schema then refuses.
            fields.setdefault(key, "")
            continue
        spool = storage.stream
        uploads.append(RawUpload(filename=storage.filename, stream=spool, size=getattr(spool, "size", 0)))
    return fields, uploads
