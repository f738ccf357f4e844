"""Autograd: TensorFlow static graph. Define the graph once, then run it in a Session over and over."""
import numpy as np

from implementations.contract import Result, check, start

CONFIG = {"d_in": 100, "hidden": 1000}  # this cell uses N, D_in, H, D_out = 64, 100, 1000, 10
TAGS = ("autograd", "tensorflow")


def tf_devices(tf) -> tuple:
    gpus = tf.config.list_physical_devices("GPU")
    return ("cpu",) + (("cuda",) if gpus else ()) + tuple(f"cuda:{i}" for i in range(len(gpus)))


def train(x, y, cfg):
    import tensorflow as tf  # imported here, so the rest of the suite starts without it

    shapes = check(x, y, cfg, devices=tf_devices(tf))
    N, D_in, D_out = x.shape[0], x.shape[1], y.shape[1]
    dtype = tf.as_dtype(cfg.dtype)
    device = "/CPU:0" if cfg.device == "cpu" else "/GPU:" + (cfg.device.partition(":")[2] or "0")

    # Randomly initialise the weights (or start from cfg.init).
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    learning_rate = cfg.lr

    # Build the static graph: nothing is computed yet. A graph of our own keeps the
    # process's eager mode as it was.
    graph = tf.Graph()
    with graph.as_default(), tf.device(device):
        # Placeholders receive the data on every run.
        x_in = tf.compat.v1.placeholder(dtype, shape=[N, D_in])
        y_in = tf.compat.v1.placeholder(dtype, shape=[N, D_out])

        # Variables hold the weights between runs.
        w1 = tf.Variable(p["w1"])
        w2 = tf.Variable(p["w2"])

        # Forward pass: compute predicted y and the loss, as graph nodes.
        h = tf.matmul(x_in, w1)
        h_relu = tf.maximum(h, tf.zeros(1, dtype))
        y_pred = tf.matmul(h_relu, w2)
        loss = tf.reduce_sum(tf.math.squared_difference(y_pred, y_in))

        # Ask the graph for the gradients of the loss with respect to w1 and w2.
        grad_w1, grad_w2 = tf.gradients(loss, [w1, w2])

        # Update nodes: running them assigns the new weights.
        new_w1 = w1.assign(w1 - learning_rate * grad_w1)
        new_w2 = w2.assign(w2 - learning_rate * grad_w2)
        initialize = tf.compat.v1.global_variables_initializer()

    # Run the graph: initialise the variables, then feed the data once per step.
    losses, grads = np.zeros(cfg.steps), None
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(initialize)
        feed = {x_in: x.astype(cfg.dtype), y_in: y.astype(cfg.dtype)}
        for t in range(cfg.steps):
            if t == 0:
                grads = dict(zip(("w1", "w2"), sess.run([grad_w1, grad_w2], feed_dict=feed)))
            losses[t], _, _ = sess.run([loss, new_w1, new_w2], feed_dict=feed)
        params = dict(zip(("w1", "w2"), sess.run([w1, w2])))

    return Result(losses=losses, init=init, params=params, grads=grads)
