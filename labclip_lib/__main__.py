"""The command line: ``python -m labclip_lib embed | fit-map | evaluate`` (``--help`` on each).

Each command runs alone or under ``torchrun`` (one process per GPU, NCCL; gloo on CPU), e.g.
``torchrun --nproc_per_node 8 -m labclip_lib embed --model openai/clip-vit-large-patch14
--folder cc3m/ --out cc3m_emb/``. ``import labclip_lib`` never imports this module.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .alignment.streaming import StreamSettings, fit_from_shards
from .benchmarks.aro import load_vg_attribution, load_vg_relation
from .benchmarks.coco import load_coco_karpathy
from .benchmarks.evaluate import evaluate_choice, evaluate_retrieval, evaluate_sugarcrepe, evaluate_zeroshot
from .benchmarks.grid import RetrievalSource, run_grid
from .benchmarks.sceneworld import evaluate_scene_benchmarks, scene_benchmarks
from .benchmarks.sugarcrepe import load_sugarcrepe
from .benchmarks.zeroshot import load_cifar
from .distributed import init_distributed
from .embed.shards import embed_shards
from .embed.sources import FolderSource, ParquetSource, RowSource, scene_source
from .models import load_model

#: benchmark names ``evaluate`` knows: ``scenes`` (the scene-world suite) or ``NAME=DIRECTORY``
REAL_BENCHMARKS = ("coco", "sugarcrepe", "cifar10", "cifar100", "vg-relation", "vg-attribution")


def _device(info) -> str:
    return f"cuda:{info.local_rank}" if torch.cuda.is_available() else "cpu"


def _source(args) -> RowSource:
    given = [a for a in ("scenes", "folder", "parquet", "coco") if getattr(args, a) is not None]
    if len(given) != 1:
        raise SystemExit(f"embed: give exactly one of --scenes, --folder, --parquet, --coco (got {given or 'none'})")
    if args.scenes is not None:
        return scene_source(args.scenes, args.n_objects, args.seed, args.resolution)
    if args.folder is not None:
        return FolderSource(args.folder)
    if args.parquet is not None:
        return ParquetSource(args.parquet, args.key_column, args.image_column, args.caption_column,
                             args.negative_column)
    return RetrievalSource(load_coco_karpathy(args.coco, args.split))


def cmd_embed(args) -> None:
    info = init_distributed()
    model = load_model(args.model, device=_device(info))
    summary = embed_shards(model, _source(args), args.out, shard_size=args.shard_size, dtype=args.dtype,
                           batch_size=args.batch_size, progress=args.verbose)
    print(json.dumps(summary), flush=True)


def cmd_fit_map(args) -> None:
    info = init_distributed()
    settings = StreamSettings(loss=args.loss, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                              seed=args.seed, buffer_rows=args.buffer_rows, checkpoint_every=args.checkpoint_every)
    est = fit_from_shards(args.shards, settings, checkpoint_dir=args.checkpoint_dir)
    if info.is_main:
        est.save(args.out)
        print(json.dumps({"map": str(args.out), "rows": est.metadata_["streaming"]["rows"],
                          "final loss": est.history_.loss[-1], "seconds": round(est.history_.seconds, 3)}), flush=True)


def _evaluate(model_id: str, benchmark: str, device: str) -> list[dict]:
    model = load_model(model_id, device=device)
    if benchmark == "scenes":
        suite = scene_benchmarks(model.image_size or 64, n_scenes=120, single_object_scenes=60)
        return evaluate_scene_benchmarks(model, suite)
    name, _, root = benchmark.partition("=")
    if name not in REAL_BENCHMARKS or not root:
        raise SystemExit(f"unknown benchmark {benchmark!r}: use 'scenes' or NAME=DIRECTORY with NAME in "
                         f"{REAL_BENCHMARKS}")
    if name == "coco":
        return [evaluate_retrieval(model, load_coco_karpathy(root))]
    if name == "sugarcrepe":
        return [evaluate_sugarcrepe(model, load_sugarcrepe(root))]
    if name in ("cifar10", "cifar100"):
        return [evaluate_zeroshot(model, load_cifar(root, name))]
    loader = load_vg_relation if name == "vg-relation" else load_vg_attribution
    return [evaluate_choice(model, loader(root))]


def cmd_evaluate(args) -> None:
    info = init_distributed()
    device = _device(info)
    out = run_grid(args.models, args.benchmarks, lambda m, b: _evaluate(m, b, device), args.out)
    print(json.dumps({"rank": out["rank"], "executed": len(out["executed"]), "skipped": len(out["skipped"])}),
          flush=True)
    if out["table"] is not None:
        print(f"merged {len(out['table'])} rows into {Path(args.out) / 'results.csv'}", flush=True)


def parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    p = argparse.ArgumentParser(prog="python -m labclip_lib", description=__doc__.split("\n\n")[0],
                                epilog="Under torchrun every process runs the same command; e.g. "
                                       "torchrun --nproc_per_node 2 -m labclip_lib embed ...")
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("embed", help="embed a data set into clip-retrieval-style shards (resumable)")
    e.add_argument("--model", required=True, help="Hugging Face id, save_pretrained directory or organism directory")
    e.add_argument("--out", required=True, type=Path, help="output folder (img_emb/, text_emb/, metadata/, stats/)")
    e.add_argument("--scenes", type=int, help="N organism scenes with captions and swapped captions")
    e.add_argument("--n-objects", type=int, default=2)
    e.add_argument("--resolution", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--folder", type=Path, help="an image-text folder (img2dataset layout: x.jpg + x.txt)")
    e.add_argument("--parquet", type=Path, help="a parquet table of keys, images and captions")
    e.add_argument("--key-column", default="key")
    e.add_argument("--image-column", default="image")
    e.add_argument("--caption-column", default="caption")
    e.add_argument("--negative-column", default=None)
    e.add_argument("--coco", type=Path, help="COCO with Karpathy's split (one row per caption)")
    e.add_argument("--split", default="train")
    e.add_argument("--shard-size", type=int, default=10_000)
    e.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--verbose", action="store_true", help="print a line per shard")
    e.set_defaults(run=cmd_embed)

    f = sub.add_parser("fit-map", help="fit a LABCLIP map by streaming a shard folder (resumable, DDP)")
    f.add_argument("--shards", required=True, type=Path, help="a folder written by 'embed' (with negatives)")
    f.add_argument("--out", required=True, type=Path, help="where to save the map (LinearAlignment.save)")
    f.add_argument("--loss", choices=("hnb", "sb"), default="hnb")
    f.add_argument("--epochs", type=int, default=50)
    f.add_argument("--lr", type=float, default=0.01)
    f.add_argument("--batch-size", type=int, default=128, help="the global batch over all processes")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--buffer-rows", type=int, default=65_536, help="shuffle-buffer size in rows")
    f.add_argument("--checkpoint-dir", type=Path, default=None, help="resume from / checkpoint to this folder")
    f.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints (0: each epoch)")
    f.set_defaults(run=cmd_fit_map)

    v = sub.add_parser("evaluate", help="a models x benchmarks grid, split over processes (resumable)")
    v.add_argument("--models", nargs="+", required=True)
    v.add_argument("--benchmarks", nargs="+", required=True,
                   help=f"'scenes' or NAME=DIRECTORY, NAME in {', '.join(REAL_BENCHMARKS)}")
    v.add_argument("--out", required=True, type=Path, help="folder of runs/*.json and the merged results.csv")
    v.set_defaults(run=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
