"""``liveroom audience ...`` and ``liveroom eval communities``: the audience graph, offline.

The graph is rebuilt from the store with the same settings and the same
analysis the running bot uses, so a file exported here shows what ``/audience``
would say.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bots.cli.rooms import echo_figures, open_store, pick_room
from bots.cli.settings import EXIT_CONFIG, Settings
from brain.text.plural import counted

if TYPE_CHECKING:  # pragma: no cover
    from brain.audience.communities import AudienceReport

__all__ = ["audience_group"]


def _report(settings: Settings, room: str | None) -> tuple[str, "AudienceReport"]:
    """The room's audience, rebuilt from the store and analysed, with a progress bar on the way."""
    from tqdm import tqdm

    from bots.features.audience import STORED_KINDS, audience_graph
    from brain.audience.communities import analyse
    config = settings.config()
    with open_store(settings) as store:
        key = pick_room(store, room)
        total = dict(store.rooms())[key]
        graph = audience_graph(key, config.audience, config.bot.name)
        events = store.iter_events(room=key, kinds=STORED_KINDS)
        for event in tqdm(events, total=total, unit="event", desc=f"reading {key}", file=sys.stderr,
                          leave=False, disable=None):
            graph.observe_stored(event)
    if len(graph) == 0:
        raise click.ClickException(f"nobody has chatted in {key} yet")
    return key, analyse(graph.snapshot())


@click.group(name="audience")
def audience_group() -> None:
    """The room's audience graph: export it, or draw it."""


@audience_group.command(name="export")
@click.option("--room", default=None,
              help="Room key (platform:room_id), or a name one recorded room has; optional when only one is recorded.")
@click.option("--format", "fmt", type=click.Choice(["graphml", "json", "csv"]), default="graphml",
              show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (csv writes OUT.nodes.csv and OUT.edges.csv).")
@click.pass_obj
def audience_export(settings: Settings, room: str | None, fmt: str, out: Path) -> None:
    """Write the audience graph with each person's community and influence.

    GraphML opens in Gephi, Cytoscape and networkx; JSON is networkx node-link;
    CSV is a nodes table and an edges table.
    """
    from brain.audience.export import export_graph
    key, report = _report(settings, room)
    written = export_graph(report, out, fmt)
    click.echo(f"{key}: {counted(report.nodes, 'person', 'people')}, {counted(report.edges, 'tie')}, "
               f"{counted(len(report.communities), 'community', 'communities')} "
               f"→ {', '.join(str(p) for p in written)}")


@audience_group.command(name="plot")
@click.option("--room", default=None,
              help="Room key (platform:room_id), or a name one recorded room has; optional when only one is recorded.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.png (a picture) or FILE.html (the picture and tables of the top members).")
@click.option("--top", "top_n", type=click.IntRange(min=1, max=5000), default=300, show_default=True,
              help="Draw only the most influential people (big rooms are unreadable otherwise).")
@click.pass_obj
def audience_plot(settings: Settings, room: str | None, out: Path, top_n: int) -> None:
    """Draw the audience: communities coloured, size by influence, top people named."""
    from brain.audience.export import PLOT_FORMATS, plot_graph
    if out.suffix.lower() not in PLOT_FORMATS:
        raise click.ClickException(f"--out must end in {' or '.join(PLOT_FORMATS)}, got {out.name!r}")
    key, report = _report(settings, room)
    plot_graph(report, out, top_n=top_n, title=f"{key}: {counted(report.nodes, 'person', 'people')}, "
                                                f"{counted(len(report.communities), 'community', 'communities')}")
    click.echo(f"wrote {out}")


@click.command(name="communities")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the figures.")
def eval_communities(directory: Path, as_json: bool) -> None:
    """Score the bot's community detection on a labelled graph.

    DIRECTORY holds edges.tsv (two node ids per line, optional weight) and
    labels.tsv (node id, community label). Prints nmi, ari, modularity,
    communities, resolution (the γ the bot chose), nodes, edges and seconds.
    Exit code 2 if DIRECTORY is not such a set.
    """
    from brain.audience.communities import evaluate_communities
    missing = [n for n in ("edges.tsv", "labels.tsv") if not (directory / n).is_file()]
    if missing:
        click.echo(f"liveroom: {directory} is not a labelled graph: missing {', '.join(missing)}", err=True)
        sys.exit(EXIT_CONFIG)
    try:
        result = evaluate_communities(directory)
    except (ValueError, UnicodeDecodeError) as exc:
        click.echo(f"liveroom: cannot evaluate: {exc}", err=True)  # the message names the file and line
        sys.exit(EXIT_CONFIG)
    echo_figures(result, as_json)
