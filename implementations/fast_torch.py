"""Fast: PyTorch eager, as close to the matmuls alone as it gets.

The warm-up loop with every buffer allocated once and every operation in place (the `out=` and
trailing-underscore forms), and as few calls a step as the products allow: the error comes out of
its product (`addmm` onto -y), the learning rate and the loss's factor 2 ride in the updates'
`alpha`, each update is fused into its gradient's product (w.addmm_(a, b, alpha=-2 lr) is one BLAS
gemm computing w := w - 2 lr a b), the ReLU's backward is one call, and the losses are summed a
chunk of steps at a time from the errors kept meanwhile. The big products run on the transposes
of x, w1 and h (h^T = w1^T x^T, w1^T -= grad_h^T x), the way round MKL runs them faster.
"""
import torch

from implementations.contract import Result, check, start
from implementations.torchkit import devices, numpy, tensor

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("fast", "torch")
KEPT = 1 << 20  # the errors kept between two sums of the losses: at most this many numbers, at most 100 steps


def train(x, y, cfg):
    shapes = check(x, y, cfg, devices=devices())

    x, y = tensor(x, cfg), tensor(y, cfg)
    N, H, D_out = x.shape[0], cfg.hidden, y.shape[1]
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    # w1 and w2 are stored as nn.Linear stores its weights, (out, in), and x as x^T: MKL runs the
    # big products on the transposes, and those with the thin w2, faster.
    w1_t, w2 = tensor(p["w1"].T, cfg), tensor(p["w2"].T, cfg).t()
    x_t = x.t().contiguous()
    learning_rate = cfg.lr

    # Every intermediate lives in a buffer made once.
    neg_y = -y
    h_t = x.new_empty(H, N)  # h^T, then relu(h)^T in place
    h = h_t.t()
    grad_h_t = x.new_empty(H, N)  # (dloss/dh / 2)^T
    chunk = max(1, min(100, KEPT // (N * D_out)))
    errors = x.new_empty(chunk, N, D_out)  # y_pred - y of the chunk's steps
    error = list(errors.unbind())  # a view per slot, made once
    losses, grads = x.new_zeros(cfg.steps), None
    relu_backward = torch.ops.aten.threshold_backward.grad_input  # grad where h > 0, else 0: one call

    with torch.no_grad():
        for t in range(cfg.steps):
            i = t % chunk
            g = error[i]

            # Forward pass, in place: h^T = relu(w1^T x^T), g = h w2 - y.
            torch.mm(w1_t, x_t, out=h_t)
            torch.relu_(h_t)
            torch.addmm(neg_y, h, w2, out=g)

            if t == 0:  # the result reports the plain gradients of step 0
                grad_y_pred = 2.0 * g
                grad_h0 = grad_y_pred.mm(w2.t()) * (h > 0)
                grads = {"w1": numpy(x.t().mm(grad_h0)), "w2": numpy(h.t().mm(grad_y_pred))}

            # Backward pass, without the factor 2: grad_h^T = w2 g^T where h > 0.
            torch.mm(w2, g.t(), out=grad_h_t)
            relu_backward(grad_h_t, h_t, 0, grad_input=grad_h_t)

            # The updates fused into the products: w2 -= 2 lr h^T g, w1^T -= 2 lr grad_h^T x.
            w2.addmm_(h_t, g, alpha=-2.0 * learning_rate)
            w1_t.addmm_(grad_h_t, x, alpha=-2.0 * learning_rate)

            # Loss: the sum of squares of each error, a chunk of steps at a time.
            if i == chunk - 1 or t == cfg.steps - 1:
                torch.sum(errors[:i + 1].square(), dim=(1, 2), out=losses[t - i:t + 1])

    return Result(losses=numpy(losses), init=init, params={"w1": numpy(w1_t.t()), "w2": numpy(w2)}, grads=grads)
