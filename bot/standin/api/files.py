"""The external upload flow and files.info.

files.getUploadURLExternal hands out an upload URL on the stand-in, the client POSTs the
bytes there, and files.completeUploadExternal shares the finished files into conversations.
"""

from __future__ import annotations

import copy
import hashlib
import mimetypes
from typing import Any

from bot.standin.api.common import check_blocks, require_writable
from bot.standin.args import Args, SlackError, invalid_arguments
from bot.standin.state import Workspace


def get_upload_url_external(ws: Workspace, args: Args) -> dict[str, Any]:
    filename = args.required("filename")
    length = args.integer("length", error="invalid_arguments")
    if length is None:
        raise invalid_arguments("missing required field: length")
    if length < 0:
        raise invalid_arguments("length must be a positive integer [json-pointer:/length]")
    file_id = ws.new_id("F")
    key = hashlib.sha256(f"{ws.team_id}:{file_id}".encode()).hexdigest()[:40]
    ws.pending_uploads[file_id] = {
        "id": file_id,
        "filename": filename,
        "length": length,
        "alt_txt": args.text("alt_txt"),
        "snippet_type": args.text("snippet_type"),
        "content": None,
        "created": int(ws.now()),
    }
    ws.upload_keys[key] = file_id
    return {"upload_url": f"{ws.upload_base_url}{key}", "file_id": file_id}


def receive_upload(ws: Workspace, key: str, content: bytes) -> bool:
    """Store the bytes POSTed to an upload URL; False when the URL is unknown."""
    file_id = ws.upload_keys.get(key)
    if file_id is None or file_id not in ws.pending_uploads:
        return False
    ws.pending_uploads[file_id]["content"] = content
    return True


def _file_object(ws: Workspace, record: dict[str, Any]) -> dict[str, Any]:
    filename = record["filename"]
    mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "binary"
    shared_in = [ws.conversations[channel_id] for channel_id in record["channels"]]
    public = [c.id for c in shared_in if not (c.is_private or c.is_im or c.is_mpim)]
    private = [c.id for c in shared_in if (c.is_private or c.is_mpim) and not c.is_im]
    ims = [c.id for c in shared_in if c.is_im]
    return {
        "id": record["id"],
        "created": record["created"],
        "timestamp": record["created"],
        "name": filename,
        "title": record["title"],
        "mimetype": mimetype,
        "filetype": extension,
        "user": ws.bot_user_id,
        "size": len(record["content"]),
        "is_public": bool(public),
        "url_private": f"https://files.slack.com/files-pri/{ws.team_id}-{record['id']}/{filename}",
        "permalink": f"https://{ws.domain}.slack.com/files/{ws.bot_user_id}/{record['id']}/{filename}",
        "channels": public,
        "groups": private,
        "ims": ims,
    } | ({"alt_txt": record["alt_txt"]} if record.get("alt_txt") else {})


def complete_upload_external(ws: Workspace, args: Args) -> dict[str, Any]:
    requested = args.json_value("files")
    if requested is None:
        raise invalid_arguments("missing required field: files")
    well_formed = isinstance(requested, list) and all(isinstance(f, dict) and f.get("id") for f in requested)
    if not well_formed or not requested:
        raise invalid_arguments("files must be a JSON array of objects with an id [json-pointer:/files]")
    for item in requested:
        pending = ws.pending_uploads.get(item["id"])
        if pending is None or pending["content"] is None:
            raise SlackError("file_not_found")
    channel_ids = args.id_list("channels")
    if args.present("channel_id"):
        channel_ids = [str(args.text("channel_id")), *channel_ids]
    conversations = [ws.conversation(channel_id) for channel_id in dict.fromkeys(channel_ids)]
    for conversation in conversations:
        require_writable(ws, conversation)
    check_blocks(args.json_value("blocks"))
    thread_ts = args.text("thread_ts")
    initial_comment = args.text("initial_comment")
    records = []
    for item in requested:
        pending = ws.pending_uploads.pop(item["id"])
        record = {
            **pending,
            "title": item.get("title") or pending["filename"],
            "channels": [conversation.id for conversation in conversations],
            "initial_comment": initial_comment,
            "thread_ts": thread_ts,
        }
        ws.files[record["id"]] = record
        records.append(record)
    shared = [_file_object(ws, record) for record in records]
    for conversation in conversations:
        ws.post(
            conversation,
            {
                "text": initial_comment or "",
                "files": copy.deepcopy(shared),
                "upload": True,
                "thread_ts": thread_ts,
                "blocks": args.json_value("blocks"),
            },
        )
    return {"files": [{"id": record["id"], "title": record["title"]} for record in records]}


def info(ws: Workspace, args: Args) -> dict[str, Any]:
    file_id = args.required("file", error="file_not_found")
    record = ws.files.get(file_id)
    if record is None:
        raise SlackError("file_not_found")
    return {"file": _file_object(ws, record), "comments": [], "response_metadata": {"next_cursor": ""}}


METHODS = {
    "files.getUploadURLExternal": get_upload_url_external,
    "files.completeUploadExternal": complete_upload_external,
    "files.info": info,
}
