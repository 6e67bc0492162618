"""Files a careless or hostile member might send, for the tests and the upload benchmark."""

from __future__ import annotations

import io
import zipfile


def zip_bomb_docx(unpacked: int = 60 * 2**20) -> bytes:
    """A .docx of about 100 KB whose document part inflates to `unpacked` bytes of XML."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"<w:t>" + b"a" * unpacked + b"</w:t>")
    return buffer.getvalue()
