"""The form of a new or edited record: one widget per field by type (each in a block with the class zq-field-<key>
and its error line zq-error-<key>), the store's per-field reasons shown where they belong, a stale edit refused
without losing what was typed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from core.access import AccessDenied
from ledgers.attachments import AttachmentRefused, Attachments
from ledgers.query import ListQuery, list_records
from ledgers.schema import FieldSpec, Ledger
from ledgers.store import LedgerStore, NotFound, Record, StaleEdit
from ledgers.values import RecordInvalid
from ops_center.ledger_views.common import display, title_of
from ops_center.ledger_views.listing import place_options
from ops_center.ledger_views.widgets import esc, link, message_html, pane, record_url, url
from ops_center.session import OpsSession

log = logging.getLogger(__name__)
BLANK = "(未填)"
REF_OPTIONS = 200  # records offered by a ref field's select (its search narrows them)


class Field:
    """One field's widgets, its value as the form sends it, and its error line."""

    def __init__(self, spec: FieldSpec, widgets: list[Any], get: Callable[[], str], initial: str, locked: bool) -> None:
        self.spec, self.widgets, self.get, self.initial, self.locked = spec, widgets, get, initial, locked
        self.error = pane("", css_classes=[f"zq-error-{spec.key}", "zq-field-error"])
        help_text = f'<div class="zq-none">{esc(spec.help)}</div>' if spec.help else ""
        self.block = pn.Column(*widgets, pane(help_text), self.error, css_classes=["zq-field", f"zq-field-{spec.key}"],
                               width=340)  # fmt: skip

    def show(self, reason: str) -> None:
        """Show (or clear, with "") this field's error."""
        self.error.object = f'<div class="zq-err">{esc(reason)}</div>' if reason else ""


def initial_text(spec: FieldSpec, value: Any) -> str:
    """A stored value as the form's text."""
    if spec.type == "geo" and isinstance(value, tuple):
        return f"{value[0]},{value[1]}"
    return display(spec, value, unit=False)


def label(spec: FieldSpec) -> str:
    """A widget's label: the field's label, unit and a mark when required."""
    unit = f"({spec.unit})" if spec.unit else ""
    return f"{spec.label}{unit}{' *' if spec.required else ''}"


class RecordForm(param.Parameterized):
    """A new record (of a ledger, or a child of a parent record) or an edit of one, for one session."""

    saved = param.String(default="", doc="Id of the record last saved by this form.")

    def __init__(self, session: OpsSession, store: LedgerStore, files: Attachments, ledger: Ledger,
                 record: Record | None = None, parent: Record | None = None) -> None:  # fmt: skip
        super().__init__()
        self.session, self.store, self.files, self.ledger = session, store, files, ledger
        self.record, self.parent = record, parent
        self.uploaded: dict[str, str] = {}  # field -> digest uploaded in this form
        self.refs: list[tuple[FieldSpec, pn.widgets.Select, pn.widgets.TextInput]] = []
        self.fields = {f.key: self._field(f) for f in ledger.fields}
        self.place = self._place()
        self.message = pane("", css_classes=["zq-form-message"])
        self.footer = pane("", css_classes=["zq-form-footer"])  # the message again beside the save button
        self.place_error = pane("", css_classes=["zq-error-village", "zq-field-error"])
        self.save = pn.widgets.Button(name="保存", button_type="primary", width=100, css_classes=["zq-save"])
        self.save.on_click(self.submit)

    # --- widgets ------------------------------------------------------------------------------------------------

    def _field(self, spec: FieldSpec) -> Field:
        rec = self.record
        value = rec.values.get(spec.key) if rec else None
        locked = bool(rec and spec.key in rec.masked)
        text = "" if locked else initial_text(spec, value)
        css = [f"zq-input-{spec.key}"]
        hint = "已脱敏(您无权查看或修改)" if locked else ""
        if spec.type in ("enum", "bool", "place"):
            opts = ({o: o for o in spec.options} if spec.type == "enum" else {"是": "是", "否": "否"}
                    if spec.type == "bool" else self._places(spec))  # fmt: skip
            options = {BLANK: "", **opts}
            if text and text not in options.values():
                options[text] = text
            w: Any = pn.widgets.Select(name=label(spec), options=options, value=text, disabled=locked, css_classes=css)
            return Field(spec, [w], lambda: str(w.value or ""), text, locked)
        if spec.type == "geo":
            lon, _, lat = text.partition(",")
            wlon = pn.widgets.TextInput(
                name=f"{label(spec)} 经度",
                value=lon,
                placeholder=hint or "如 104.37",
                disabled=locked,
                max_length=20,
                css_classes=[f"zq-input-{spec.key}-lon"],
            )
            wlat = pn.widgets.TextInput(name="纬度", value=lat, placeholder=hint or "如 33.78", disabled=locked,
                                        max_length=20, css_classes=[f"zq-input-{spec.key}-lat"])  # fmt: skip

            def point() -> str:
                a, b = (wlon.value or "").strip(), (wlat.value or "").strip()
                return f"{a},{b}" if a or b else ""

            return Field(spec, [wlon, wlat], point, text, locked)
        if spec.type == "attachment":
            return self._attachment(spec, text, locked)
        if spec.type == "ref":
            choice = pn.widgets.Select(name=label(spec), options={BLANK: "", **({text: text} if text else {})},
                                       value=text, disabled=locked, css_classes=css)  # fmt: skip
            find = pn.widgets.TextInput(name="", placeholder="输入关键词查找(回车)", max_length=50, disabled=locked,
                                        css_classes=[f"zq-find-{spec.key}"])  # fmt: skip
            self.refs.append((spec, choice, find))

            async def refind(event: Any) -> None:
                await self._ref_options(spec, choice, str(event.new or ""))

            find.param.watch(refind, "value")
            return Field(spec, [choice, find], lambda: str(choice.value or ""), text, locked)
        placeholder = hint or {"date": "如 2024-05-01", "integer": "整数", "decimal": "数字"}.get(spec.type, "")
        kind = pn.widgets.TextAreaInput if spec.type == "text" and spec.max_length > 100 else pn.widgets.TextInput
        box = kind(name=label(spec), value=text, placeholder=placeholder, disabled=locked, css_classes=css,
                   max_length=spec.max_length if spec.type == "text" else 40)  # fmt: skip
        return Field(spec, [box], lambda: str(box.value or "").strip(), text, locked)

    def _places(self, spec: FieldSpec) -> dict[str, str]:
        return place_options(self.store, self.session, spec.level)

    def _attachment(self, spec: FieldSpec, text: str, locked: bool) -> Field:
        upload = pn.widgets.FileInput(name=label(spec), disabled=locked, css_classes=[f"zq-input-{spec.key}"],
                                      accept=",".join(f".{t}" for t in self.session.ctx.settings.records
                                                      .attachment_types))  # fmt: skip
        state = pane(f'<div class="zq-none">{"已有附件" if text else "未上传"}</div>',
                     css_classes=[f"zq-upload-{spec.key}"])  # fmt: skip

        async def uploaded(event: Any) -> None:
            data, name = event.new, upload.filename or "附件"
            if not data:
                return
            rid = self.record.id if self.record else None
            try:
                info = await asyncio.to_thread(self.files.add, self.session.user, self.ledger.ledger, name, data,
                                               record_id=rid)  # fmt: skip
            except (AttachmentRefused, AccessDenied, NotFound) as exc:
                self.fields[spec.key].show(str(exc))
                return
            self.uploaded[spec.key] = info.sha256
            self.fields[spec.key].show("")
            state.object = f'<div class="zq-none">已上传:{esc(info.filename)}({info.size // 1024 + 1} KB)</div>'

        upload.param.watch(uploaded, "value")
        return Field(spec, [upload, state], lambda: self.uploaded.get(spec.key, text), text, locked)

    def _place(self) -> pn.widgets.Select | None:
        """The village of a new top-level record (a child record lives where its parent does)."""
        if self.record is not None or self.ledger.parent:
            return None
        user = self.session.user
        options = place_options(self.store, self.session, "village")
        if user.level != "village":
            options = {"(请选择村)": "", **options}
        value = f"{user.township}/{user.village}" if user.level == "village" else ""
        return pn.widgets.Select(name="所在村 *", options=options, value=value, disabled=user.level == "village",
                                 css_classes=["zq-input-village"])  # fmt: skip

    async def load(self) -> None:
        """Fill the ref fields' selects (records of the target ledger in the user's area)."""
        for spec, choice, find in self.refs:
            await self._ref_options(spec, choice, find.value or "")

    async def _ref_options(self, spec: FieldSpec, choice: pn.widgets.Select, term: str) -> None:
        target = spec.ledger or ""
        q = ListQuery(search=term.strip(), size=REF_OPTIONS)
        try:
            page = await asyncio.to_thread(list_records, self.store, self.session.user, target, q)
        except (AccessDenied, NotFound, RecordInvalid) as exc:
            self.fields[spec.key].show(f"无法列出可选记录:{exc}")
            return
        lg = self.store.ledgers[target]
        options = {BLANK: ""} | {f"{title_of(lg, r)}({r.village} {r.id})": r.id for r in page.rows}
        current = str(choice.value or "")
        if current and current not in options.values():
            options[current] = current
        choice.options = options
        choice.value = current

    # --- saving -------------------------------------------------------------------------------------------------

    def say(self, body: str) -> None:
        """Show a message (HTML built from escaped text) above the form and beside its save button."""
        self.message.object = self.footer.object = body

    def payload(self) -> dict[str, str]:
        """The values to send: every filled field of a new record; the changed fields of an edit."""
        out = {}
        for key, f in self.fields.items():
            if f.locked:
                continue
            value = f.get()
            if (self.record is None and value) or (self.record is not None and value != f.initial):
                out[key] = value
        return out

    async def submit(self, *_: Any) -> None:
        """Save the form; per-field reasons, a stale edit or a refusal shown in Chinese; typed values kept."""
        for f in self.fields.values():
            f.show("")
        self.place_error.object = ""
        raw, user, key, ip = self.payload(), self.session.user, self.ledger.ledger, self.session.ip
        if self.record is not None and not raw:
            self.say(message_html("没有修改任何内容", "info"))
            return
        try:
            if self.record is None:
                township, _sep, village = str(self.place.value or "").partition("/") if self.place else ("", "", "")
                if self.place is not None and not village:
                    raise RecordInvalid({"village": "请选择所在村"})
                rec = await asyncio.to_thread(self.store.create, user, key, raw, village=village, township=township,
                                              parent_id=self.parent.id if self.parent else None, ip=ip)  # fmt: skip
            else:
                rec = await asyncio.to_thread(self.store.update, user, key, self.record.id, raw,
                                              version=self.record.version, ip=ip)  # fmt: skip
        except RecordInvalid as exc:
            self._errors(exc.errors)
            return
        except StaleEdit as exc:
            self.say(message_html(f"{exc}。您填写的内容仍保留在表单中,可复制后刷新页面重新编辑。"))
            return
        except (AccessDenied, NotFound) as exc:
            self.say(message_html(str(exc)))
            return
        shas = [s for s in self.uploaded.values() if s]
        if shas:
            await asyncio.to_thread(self.files.link, key, rec.id, shas)
        self._saved(rec)

    def _errors(self, errors: dict[str, str]) -> None:
        general = []
        for key, reason in errors.items():
            if key in self.fields:
                self.fields[key].show(reason)
            elif key == "village" and self.place is not None:
                self.place_error.object = f'<div class="zq-err">{esc(reason)}</div>'
            else:
                general.append(f"{'所在村' if key == 'village' else ''}{reason}")
        lead = f"有 {len(errors)} 处填写不正确,请按提示修改"
        self.say(message_html(";".join([lead, *general])))

    def _saved(self, rec: Record) -> None:
        was_new = self.record is None
        self.record, self.saved = rec, rec.id
        for key, f in self.fields.items():  # an edit goes on from the saved version
            f.initial = "" if f.locked else initial_text(f.spec, rec.values.get(key))
        links = [link(record_url(rec.ledger, rec.id), "查看记录", "zq-saved-link", id=rec.id)]
        if self.ledger.parent and rec.parent_id:
            parent = self.store.ledgers[self.ledger.parent]
            links.append(link(record_url(parent.ledger, rec.parent_id), f"返回{parent.title}", "zq-parent-link"))
            links.append(link(url("/record", ledger=rec.ledger, new=1, parent=rec.parent_id),
                              f"继续添加{self.ledger.title}", "zq-add-another"))  # fmt: skip
        for child in self.store.ledgers.children(rec.ledger):
            if self.store.may(self.session.user, child, "write"):
                links.append(link(url("/record", ledger=child.ledger, new=1, parent=rec.id), f"添加{child.title}",
                                  f"zq-add-child zq-add-{child.ledger}"))  # fmt: skip
        what = "已保存新记录" if was_new else f"已保存(第 {rec.version} 版)"
        self.say(message_html(f"{what}:{rec.id}", "success") + f'<div class="zq-lnav">{"".join(links)}</div>')
        if was_new:
            self.save.disabled = True  # a second click would add the record twice

    def view(self) -> pn.viewable.Viewable:
        """The form: place, fields in declared order, the message line and the save button."""
        title = f"新增{self.ledger.title}" if self.record is None else f"编辑 {self.record.id}"
        under = f"(属于 {self.parent.id})" if self.parent else ""
        head = pane(f'<div class="zq-lg"><h2>{esc(title)}{esc(under)}</h2>'
                    f'<div class="zq-help">带 * 的为必填项。{esc(self.ledger.help)}</div></div>')  # fmt: skip
        blocks = [f.block for f in self.fields.values()]
        place = ([pn.Column(self.place, self.place_error, css_classes=["zq-field", "zq-field-village"], width=340)]
                 if self.place else [])  # fmt: skip
        # a GridBox, not a FlexBox: FlexBox is a ReactiveHTML component, whose scripts the page's CSP refuses
        return pn.Column(head, self.message, pn.GridBox(*place, *blocks, ncols=3), self.save, self.footer,
                         sizing_mode="stretch_width", css_classes=["zq-record-form"])  # fmt: skip
