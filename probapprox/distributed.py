"""Several processes (on one or many hosts) as one fit, through ``jax.distributed``.

JAX runs one program per process; after :func:`initialize`, ``jax.devices()`` lists the
devices of *every* process, a :class:`jax.sharding.Mesh` over them spans the processes, and the
collectives of a jitted program (the gradient's all-reduce of ``pa.fit(mesh=...)``) run across
them (NCCL on GPUs, gloo over TCP on CPUs). Every process runs the same script:

.. code-block:: python

    import probapprox as pa

    pa.distributed.initialize("10.0.0.1:1234", num_processes=2, process_id=RANK)
    mesh = jax.make_mesh((jax.device_count(),), ("data",))
    x = pa.distributed.shard_rows(my_rows_of_x, mesh)  # this process's block of rows
    y = pa.distributed.shard_rows(my_rows_of_y, mesh)
    result = pa.fit(model, guide, x, y, mesh=mesh, checkpoint="fit.npz")

Each process holds only its own rows; the parameters are replicated. Checkpoints are written
by process 0 only (the loop state is gathered first, so a checkpoint holds the full state and
resumes on any number of processes, one included), so ``checkpoint`` should be a path every
process can read when resuming. Everything a process does between the fits must be the same on
every process (the same model, arguments and seed): the processes trace one program.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from probapprox.infer import auto_mesh

__all__ = ["initialize", "is_main_process", "shard_rows"]


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: Any = None,
    cpu_collectives: str | None = "gloo",
    **kwargs: Any,
) -> None:
    """Join this process to a multi-process JAX program (thin wrapper of ``jax.distributed``).

    Selects the gloo collectives for CPU devices (``jax_cpu_collectives_implementation``),
    without which a CPU mesh cannot span processes, then calls
    :func:`jax.distributed.initialize` with the same arguments. Call it first, before any
    other JAX computation, in every process. On a cluster (SLURM, Open MPI, Cloud TPU) the
    arguments may be left out and are detected.

    Args:
        coordinator_address: ``"host:port"`` of process 0 (e.g. ``"127.0.0.1:12345"`` for
            processes on one machine).
        num_processes: total number of processes.
        process_id: this process's rank, ``0 .. num_processes - 1``.
        local_device_ids: devices this process uses (default: all it sees).
        cpu_collectives: CPU collectives implementation (``"gloo"``; ``None`` keeps JAX's).
        **kwargs: passed to :func:`jax.distributed.initialize`.

    """
    if cpu_collectives is not None:
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        local_device_ids=local_device_ids,
        **kwargs,
    )


def is_main_process() -> bool:
    """Whether this is process 0 (the one that writes checkpoints and should print)."""
    return jax.process_index() == 0


def shard_rows(local: Any, mesh: Mesh, axis: str = "data") -> jax.Array:
    """One global array from each process's block of rows (leading axis), laid over ``axis``.

    Process ``p`` passes rows ``p·n .. (p+1)·n − 1`` of the global array (every process the
    same ``n``); the result has ``num_processes · n`` rows, split over the devices of ``axis``
    in order, and no process holds the others' rows. Wraps
    :func:`jax.make_array_from_process_local_data`.

    Args:
        local: this process's rows, shape ``(n, ...)``.
        mesh: the mesh of the fit.
        axis: the mesh axis the rows are split over.

    """
    local = np.asarray(local)
    if local.ndim == 0:
        raise ValueError("probapprox.distributed.shard_rows: `local` must have a row axis.")
    sharding = NamedSharding(auto_mesh(mesh), P(axis))
    return jax.make_array_from_process_local_data(sharding, local)
