"""Row-sparse Adam: equals optax Adam when every row is touched; untouched rows stay put."""

import jax.numpy as jnp
import numpy as np
import optax

from probapprox.gp._sparse_adam import row_adam_init, row_adam_update


def test_all_rows_touched_equals_optax_adam():
    rng = np.random.default_rng(0)
    params = {"a": jnp.asarray(rng.normal(size=(5, 3))), "b": jnp.asarray(rng.normal(size=5))}
    opt = optax.adam(0.05)
    ref, ref_state = params, opt.init(params)
    ours, state = params, row_adam_init(params)
    rows = jnp.arange(5)
    for t in range(1, 6):
        grads = {k: jnp.asarray(rng.normal(size=v.shape)) for k, v in params.items()}
        upd, ref_state = opt.update(grads, ref_state)
        ref = optax.apply_updates(ref, upd)
        ours, state = row_adam_update(ours, state, rows, grads, jnp.asarray(t), 0.05)
    for k in params:
        np.testing.assert_allclose(ours[k], ref[k], rtol=1e-12)


def test_only_touched_rows_change_and_padding_is_dropped():
    params = jnp.arange(12.0).reshape(6, 2)
    state = row_adam_init(params)
    rows = jnp.asarray([1, 4, 6, 6])  # 6 = n: padding
    grads = jnp.ones((4, 2))
    new, state = row_adam_update(params, state, rows, grads, jnp.asarray(1), 0.1)
    changed = np.flatnonzero(np.any(np.asarray(new) != np.asarray(params), axis=1))
    np.testing.assert_array_equal(changed, [1, 4])
    np.testing.assert_allclose(new[1], params[1] - 0.1, rtol=1e-6)  # first Adam step = -lr sign(g)
    assert np.all(np.asarray(state.mu)[[0, 2, 3, 5]] == 0)
