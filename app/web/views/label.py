"""Label: one galaxy of the expert queue at a time, with the model's posterior and why it was
picked; a key for every class, skip, unsure, pass and undo."""

import numpy as np
import streamlit as st

from app.services.data.galaxy_view import load_galaxy
from app.services.loop.retrain import active_version
from app.services.loop.scoring import percentile_of
from app.web import first_model, images, keys, label_flow, resources, session
from app.web.posterior import posterior_spec, summarize
from app.web.spectrum import SMOOTHING, spectrum_spec
from app.web.text import plain
from storage.db import session_scope

IMAGE_PIXELS = 384
BAND_PIXELS = 96
ZOOMS = (1, 1.5, 2, 3, 4)
CONTRASTS = (0.25, 0.5, 1, 2, 4)

user = session.current_user(st.session_state)
db = session.engine()
settings = session.settings()
state = st.session_state

with session_scope(db) as s:
    tasks = label_flow.classification_tasks(s)
if not tasks:
    st.info("No classification task yet: ingest a survey with one (`galactive mock`).")
    st.stop()
task = st.sidebar.selectbox("Task", tasks, format_func=lambda t: t.title, key="task")
class_keys = [keys.class_key(k) for k in range(len(task.classes))]
with st.sidebar:
    st.html(
        keys.script([k for k in class_keys if k] + [keys.UNSURE, keys.SKIP, keys.NEXT, keys.UNDO]),
        unsafe_allow_javascript=True,
    )
requested = 1
if user.is_admin:
    requested = st.sidebar.number_input(
        "Overlap (labelers per galaxy)", 1, label_flow.MAX_OVERLAP, 1, key="overlap"
    )
overlap = label_flow.allowed_overlap(user.role, requested)
current = label_flow.shown(state, db, user.id, task, overlap=overlap)

if flash := state.pop(label_flow.FLASH_KEY, None):
    getattr(st, flash[0])(flash[1])

undo = {
    "label": keys.labelled(keys.UNDO, "Undo"),
    "key": "undo",
    "help": "Take back your last label in this task; its galaxy comes back.",
    "on_click": label_flow.undo,
    "args": (state, db, user.id, task),
}
if current is None and task.survey in (fitting := first_model.waiting(db)):
    first_model.show_and_stop(db, {task.survey: fitting[task.survey]}, "")
if current is None:
    st.success(
        f"Nothing left for you to label in {plain(task.title)}. "
        "The queue is rebuilt after each retrain; check again later."
    )
    st.button("Check again", key="check_again")
    st.button(**undo)
    label_flow.finish_timing(state)
    st.stop()

a = current.assignment
with session_scope(db) as s:
    refs = resources.refs(s, settings.db_url, task.survey)
    galaxy = load_galaxy(s, settings.store(), refs, a.galaxy_id)
    version = active_version(s, task.survey)
    pool = (
        resources.pool_scores(s, settings.db_url, a.model_version_id, task.id)
        if a.model_version_id is not None and a.acquisition_score is not None
        else np.zeros(0)
    )
post = (
    resources.posterior(settings, refs, version.id, version.checkpoint, a.galaxy_id)
    if version is not None and version.checkpoint
    else None
)
with session_scope(db) as s:
    why = label_flow.reason(
        s,
        a,
        percentile=percentile_of(a.acquisition_score, pool) if len(pool) else None,
        probs=post.probs.get(task.name) if post is not None else None,
        active=version.name if version is not None else None,
    )

st.subheader(f"{plain(galaxy.source_id)} · {plain(task.name)}")
mag = f" · {galaxy.ref_band} = {galaxy.ref_mag:.2f}" if galaxy.ref_mag is not None else ""
st.caption(
    f"RA {galaxy.ra:.5f}°, Dec {galaxy.dec:+.5f}°{mag} · yours until {a.expires_at:%H:%M} UTC"
)
left, right = st.columns([5, 4], gap="large")

with left:
    if galaxy.image is None:
        st.warning("No image for this galaxy.")
    else:
        with st.container(horizontal=True):
            factor = st.select_slider(
                "Zoom", ZOOMS, value=1, key="zoom", format_func=lambda z: f"{z}x"
            )
            stretch = st.segmented_control(
                "Stretch", images.STRETCHES, default="asinh", key="stretch"
            )
            contrast = st.select_slider(
                "Contrast", CONTRASTS, value=1, key="contrast", format_func=lambda c: f"{c}x"
            )
        look = {"stretch": stretch or "asinh", "contrast": contrast}
        composite, caption = images.colour_view(galaxy.image, galaxy.bands, **look)
        where = {"pixel_scale": galaxy.pixel_scale, "orientation": galaxy.orientation}
        picture, drawn = images.for_eye(composite, factor=factor, size=IMAGE_PIXELS, **where)
        st.image(picture, caption=f"{caption}; {drawn}")
        flip = images.north_up(composite, galaxy.orientation)
        bands = [images.band_view(b, **look)[:: -1 if flip else 1] for b in galaxy.image]
        st.image(
            [images.zoom(b, factor, size=BAND_PIXELS) for b in bands],
            caption=list(galaxy.bands) or None,
        )

with right:
    st.markdown("**Model posterior**")
    if post is None or task.name not in post.probs:
        st.warning(f"The active model has no posterior for {plain(task.name)}.")
    else:
        summary = summarize(post.probs[task.name], task.names)
        st.vega_lite_chart(spec=posterior_spec(summary), width="stretch")
        st.caption(
            f"{plain(version.name)}: mean and 16–84% range over {len(post.probs[task.name])} "
            f"posterior samples; most probable {plain(summary.classes[summary.top])} "
            f"({summary.mean[summary.top]:.0%})."
        )
    st.info(why, icon=":material/help:")

    comment_key = f"comment_{a.lease_id}"
    st.text_input(
        "Comment (optional)",
        key=comment_key,
        placeholder="saved with your label; Tab out, then press a key",
    )
    on_this = {"on_click": label_flow.submit, "args": (state, db, user.id, current)}
    columns = st.columns(3)
    for k, name in enumerate(task.names):
        columns[k % 3].button(
            keys.labelled(class_keys[k], plain(name)),
            key=f"class_{k}_{a.lease_id}",
            kwargs={"status": "answer", "class_index": k, "comment_key": comment_key},
            type="primary",
            width="stretch",
            **on_this,
        )
    with st.container(horizontal=True):
        st.button(
            keys.labelled(keys.UNSURE, "Unsure"),
            key=f"unsure_{a.lease_id}",
            help="Counts as a look at this galaxy, without a class.",
            kwargs={"status": "unsure", "comment_key": comment_key},
            **on_this,
        )
        st.button(
            keys.labelled(keys.SKIP, "Skip"),
            key=f"skip_{a.lease_id}",
            help="Recorded as a skip; another labeler gets this galaxy.",
            kwargs={"status": "skip", "comment_key": comment_key},
            **on_this,
        )
        st.button(
            keys.labelled(keys.NEXT, "Next"),
            key=f"next_{a.lease_id}",
            help="Pass on this galaxy without recording anything; another labeler gets it.",
            on_click=label_flow.leave,
            args=(state, db, user.id, current),
        )
        st.button(**undo)

if galaxy.wavelength is not None:
    model_z = post.redshift if post is not None else None
    z = galaxy.spec_z if galaxy.spec_z is not None else model_z
    smooth = st.select_slider(
        "Smoothing", SMOOTHING, value=1, key="smooth",
        format_func=lambda n: "none" if n == 1 else f"{n} pixels",
    )  # fmt: skip
    st.vega_lite_chart(
        spec=spectrum_spec(
            galaxy.wavelength,
            galaxy.flux,
            galaxy.ivar,
            z=z,
            flux_unit=galaxy.flux_unit or "arbitrary",
            smooth=smooth,
        ),
        width="stretch",
    )
    st.caption(label_flow.redshift_caption(galaxy.spec_z, model_z, post))
else:
    st.caption("No spectrum for this galaxy.")

if (ms := label_flow.finish_timing(state)) is not None:
    st.sidebar.caption(f"Server time from your key to this galaxy: {ms:.0f} ms")
