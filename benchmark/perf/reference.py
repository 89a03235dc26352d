"""Plain one-seed updates, written the way the authors' code (SimpleSAC, H2O, H2Oplus and its H2O+;
IQL's learner; TD3_BC.py; PAR.py; VGDF's agent/vgdf.py) writes them.

`gapbench perf` times gapbench's update against these. They compute the same losses from the same
hyper-parameters, with none of gapbench's engineering:

* one seed, `nn.Sequential` networks, two separate Q networks and two separate target copies;
* default `torch.optim.Adam` (the for-loop implementation), one optimiser per network group;
* no freezing: the policy loss back-propagates into the critics, whose gradients are then zeroed;
* one backward per loss and one optimiser step per network, in the authors' order (alpha, policy,
  Q), the classifiers with their own two optimisers and `retain_graph`;
* the TD targets, CQL's sampled actions and the classifier ratios under `no_grad`, as gapbench
  (SimpleSAC builds the targets with autograd on and detaches them: slower still);
* the soft target update as a Python loop over parameters.

The random draws follow gapbench's order, from one generator per stream seeded as gapbench seeds
its own, so `tests/test_perf.py` can check that a reference update and a gapbench update give the
same numbers. The tanh-Gaussian is the same hand-written density as gapbench's; SimpleSAC builds a
`TransformedDistribution` per call, which could only make the reference slower, so the ratios
`gapbench perf` prints are conservative.

Hyper-parameters are read from the method's gapbench config, as a dict (``c.discount``), so that
this file does not count as a reader of config fields in tests/test_architecture.py.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def fully_connected(in_dim: int, out_dim: int, hidden: tuple[int, ...], small_output: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.ReLU()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    if small_output:  # SimpleSAC's output layers; TD3+BC keeps nn.Linear's default
        nn.init.xavier_uniform_(layers[-1].weight, gain=1e-2)
        nn.init.constant_(layers[-1].bias, 0.0)
    return nn.Sequential(*layers)


class Scalar(nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.constant = nn.Parameter(torch.tensor(float(value)))

    def forward(self) -> torch.Tensor:
        return self.constant


class TanhGaussianPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden, log_std_multiplier: float, log_std_offset: float):
        super().__init__()
        self.act_dim = act_dim
        self.base_network = fully_connected(obs_dim, 2 * act_dim, hidden)
        self.log_std_multiplier = Scalar(log_std_multiplier)
        self.log_std_offset = Scalar(log_std_offset)

    def forward(self, observations: torch.Tensor, generator: torch.Generator, repeat: int | None = None):
        if repeat is not None:
            observations = observations.unsqueeze(1).repeat(1, repeat, 1).reshape(-1, observations.shape[-1])
        mean, log_std = torch.split(self.base_network(observations), self.act_dim, dim=-1)
        log_std = self.log_std_multiplier() * log_std + self.log_std_offset()
        log_std = torch.clamp(log_std, -20.0, 2.0)
        std = torch.exp(log_std)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device)
        pre_tanh = mean + std * eps
        log_prob = torch.sum(-0.5 * eps ** 2 - log_std - _LOG_SQRT_2PI, dim=-1)
        log_prob = log_prob - torch.sum(2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh)), dim=-1)
        return torch.tanh(pre_tanh), log_prob


class FullyConnectedQFunction(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden):
        super().__init__()
        self.network = fully_connected(obs_dim + act_dim, 1, hidden)

    def forward(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        multiple_actions = actions.ndim == 3 and observations.ndim == 2
        batch_size = observations.shape[0]
        if multiple_actions:
            observations = observations.unsqueeze(1).repeat(1, actions.shape[1], 1).reshape(-1, observations.shape[-1])
            actions = actions.reshape(-1, actions.shape[-1])
        output = torch.squeeze(self.network(torch.cat([observations, actions], dim=-1)), dim=-1)
        return output.reshape(batch_size, -1) if multiple_actions else output


class Classifier(nn.Module):
    """The authors' Weight_net: an MLP with 2 logits bounded by ``bound * tanh``."""

    def __init__(self, in_dim: int, hidden, bound: float):
        super().__init__()
        self.network, self.bound = fully_connected(in_dim, 2, hidden), bound
        for layer in self.network:  # Weight_net keeps PyTorch's default init everywhere
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bound * torch.tanh(self.network(x))


def soft_target_update(network: nn.Module, target_network: nn.Module, tau: float) -> None:
    for target_param, param in zip(target_network.parameters(), network.parameters()):
        target_param.data.copy_((1 - tau) * target_param.data + tau * param.data)


def _stream(seed: int, name: str, device: str) -> torch.Generator:
    from gapbench.algos import derive_seed  # gapbench's seeding of a named stream, nothing else

    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, name))
    return g


Batch = dict[str, torch.Tensor]  # observations, actions, rewards, next_observations, dones: [B, ...]


def split_rows(rows: torch.Tensor, obs_dim: int, act_dim: int) -> Batch:
    o, a = obs_dim, act_dim
    return {"observations": rows[:, :o], "actions": rows[:, o:o + a], "rewards": rows[:, o + a],
            "next_observations": rows[:, o + a + 1:2 * o + a + 1], "dones": rows[:, -1]}


def _take(batch: Batch, start: int, stop: int) -> Batch:
    return {k: v[start:stop] for k, v in batch.items()}


class ReferenceSAC:
    """SimpleSAC's SAC.train: the basis of every other reference here."""

    def __init__(self, config: Any, obs_dim: int, act_dim: int, seed: int, device: str = "cpu"):
        self.c = c = config
        self.obs_dim, self.act_dim, self.device = obs_dim, act_dim, device
        hidden = tuple(c.hidden)
        self.generator = _stream(seed, "agent", device)
        self.policy = TanhGaussianPolicy(obs_dim, act_dim, hidden, c.policy_log_std_multiplier,
                                         c.policy_log_std_offset).to(device)
        self.qf1 = FullyConnectedQFunction(obs_dim, act_dim, hidden).to(device)
        self.qf2 = FullyConnectedQFunction(obs_dim, act_dim, hidden).to(device)
        self.target_qf1, self.target_qf2 = copy.deepcopy(self.qf1), copy.deepcopy(self.qf2)
        self.log_alpha = Scalar(0.0).to(device)
        self.target_entropy = -float(act_dim) if c.target_entropy is None else c.target_entropy
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), c.policy_lr)
        self.qf_optimizer = torch.optim.Adam(list(self.qf1.parameters()) + list(self.qf2.parameters()), c.qf_lr)
        self.alpha_optimizer = torch.optim.Adam(self.log_alpha.parameters(), c.policy_lr)
        self.total_steps = 0

    def batch_sizes(self) -> dict[str, int]:
        return {"sim": self.c.batch_size}

    def prepare_rows(self, rows: np.ndarray) -> np.ndarray:
        """The data as the authors' buffer holds it (as logged, for SimpleSAC's methods)."""
        return rows

    def train(self, real: Batch | None, sim: Batch | None) -> dict[str, float]:
        return self.sac_train(sim, sim["observations"])

    # the pieces every method shares

    def alpha(self) -> torch.Tensor:
        if self.c.use_automatic_entropy_tuning:
            return self.log_alpha().exp() * self.c.alpha_multiplier
        return torch.tensor(self.c.alpha_multiplier, device=self.device)

    def alpha_loss(self, log_pi: torch.Tensor) -> torch.Tensor:
        return -(self.log_alpha() * (log_pi + self.target_entropy).detach()).mean()

    @torch.no_grad()
    def td_target(self, batch: Batch, rewards: torch.Tensor) -> torch.Tensor:
        new_next_actions, next_log_pi = self.policy(batch["next_observations"], self.generator)
        target_q_values = torch.min(self.target_qf1(batch["next_observations"], new_next_actions),
                                    self.target_qf2(batch["next_observations"], new_next_actions))
        if self.c.backup_entropy:
            target_q_values = target_q_values - self.alpha() * next_log_pi
        return rewards + (1.0 - batch["dones"]) * self.c.discount * target_q_values

    def policy_loss(self, observations, alpha, new_actions, log_pi):
        q_new_actions = torch.min(self.qf1(observations, new_actions), self.qf2(observations, new_actions))
        return (alpha * log_pi - q_new_actions).mean()

    def step(self, alpha_loss, policy_loss, qf_loss) -> None:
        if self.c.use_automatic_entropy_tuning:
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        self.policy_optimizer.step()
        self.qf_optimizer.zero_grad()
        qf_loss.backward()
        self.qf_optimizer.step()
        self.total_steps += 1
        if self.total_steps % self.c.target_update_period == 0:
            soft_target_update(self.qf1, self.target_qf1, self.c.soft_target_update_rate)
            soft_target_update(self.qf2, self.target_qf2, self.c.soft_target_update_rate)

    def sac_train(self, batch: Batch, policy_observations, rewards=None) -> dict[str, float]:
        q_target = self.td_target(batch, batch["rewards"] if rewards is None else rewards)
        new_actions, log_pi = self.policy(policy_observations, self.generator)
        alpha = self.alpha()
        alpha_loss = self.alpha_loss(log_pi)
        policy_loss = self.policy_loss(policy_observations, alpha, new_actions, log_pi)
        q1_pred = self.qf1(batch["observations"], batch["actions"])
        q2_pred = self.qf2(batch["observations"], batch["actions"])
        qf1_loss = F.mse_loss(q1_pred, q_target)
        qf2_loss = F.mse_loss(q2_pred, q_target)
        qf_loss = qf1_loss + qf2_loss
        self.step(alpha_loss, policy_loss, qf_loss)
        return {"policy_loss": policy_loss.detach(), "qf_loss": qf_loss.detach()}

    # ---------------------------------------------------------- for the equivalence test

    @torch.no_grad()
    def copy_from(self, agent) -> None:
        """Take member 0's parameters and random streams from a gapbench agent of the same method."""
        self.generator.set_state(agent.rng.generators[0].get_state())
        if hasattr(self, "next_state_generator"):
            self.next_state_generator.set_state(agent.next_state_rng.generators[0].get_state())
        _copy_mlp(agent.policy.trunk, 0, self.policy.base_network)
        self.policy.log_std_multiplier.constant.copy_(agent.policy.log_std_multiplier[0, 0, 0])
        self.policy.log_std_offset.constant.copy_(agent.policy.log_std_offset[0, 0, 0])
        for j, (qf, target) in enumerate(((self.qf1, self.target_qf1), (self.qf2, self.target_qf2))):
            _copy_mlp(agent.critic.net, j, qf.network)
            _copy_mlp(agent.target_critic.net, j, target.network)
        self.log_alpha.constant.copy_(agent.log_alpha[0])
        if hasattr(self, "classifiers"):
            _copy_mlp(agent.classifiers.pair.d_sa, 0, self.classifiers.d_sa.network)
            _copy_mlp(agent.classifiers.pair.d_sas, 0, self.classifiers.d_sas.network)


def _copy_mlp(mlp, e: int, sequential: nn.Sequential) -> None:
    linears = [m for m in sequential if isinstance(m, nn.Linear)]
    for layer, linear in zip(mlp.layers, linears, strict=True):
        linear.weight.copy_(layer.weight[e].T)
        linear.bias.copy_(layer.bias[e, 0])


class ReferenceCQL(ReferenceSAC):
    """SimpleSAC's ConservativeSAC.train, CQL(H) with importance sampling."""

    def batch_sizes(self):
        return {"real": self.c.batch_size}

    def train(self, real, sim):
        c, batch = self.c, real
        observations, actions = batch["observations"], batch["actions"]
        batch_size, n = actions.shape[0], c.n_actions
        q_target = self.td_target(batch, batch["rewards"])
        new_actions, log_pi = self.policy(observations, self.generator)
        alpha = self.alpha()
        alpha_loss = self.alpha_loss(log_pi)
        policy_loss = self.policy_loss(observations, alpha, new_actions, log_pi)
        q1_pred = self.qf1(observations, actions)
        q2_pred = self.qf2(observations, actions)
        qf1_loss = F.mse_loss(q1_pred, q_target)
        qf2_loss = F.mse_loss(q2_pred, q_target)

        with torch.no_grad():
            cql_random_actions = torch.empty(batch_size, n, self.act_dim, device=self.device).uniform_(
                -1, 1, generator=self.generator)
            cql_current_actions, cql_current_log_pis = self.policy(observations, self.generator, repeat=n)
            cql_next_actions, cql_next_log_pis = self.policy(batch["next_observations"], self.generator, repeat=n)
        cql_current_actions = cql_current_actions.reshape(batch_size, n, -1)
        cql_current_log_pis = cql_current_log_pis.reshape(batch_size, n)
        cql_next_actions = cql_next_actions.reshape(batch_size, n, -1)
        cql_next_log_pis = cql_next_log_pis.reshape(batch_size, n)
        cql_q1_rand = self.qf1(observations, cql_random_actions)
        cql_q2_rand = self.qf2(observations, cql_random_actions)
        cql_q1_current_actions = self.qf1(observations, cql_current_actions)
        cql_q2_current_actions = self.qf2(observations, cql_current_actions)
        cql_q1_next_actions = self.qf1(observations, cql_next_actions)
        cql_q2_next_actions = self.qf2(observations, cql_next_actions)
        if c.importance_sample:
            random_density = np.log(0.5 ** self.act_dim)
            cql_cat_q1 = torch.cat([cql_q1_rand - random_density, cql_q1_next_actions - cql_next_log_pis,
                                    cql_q1_current_actions - cql_current_log_pis], dim=1)
            cql_cat_q2 = torch.cat([cql_q2_rand - random_density, cql_q2_next_actions - cql_next_log_pis,
                                    cql_q2_current_actions - cql_current_log_pis], dim=1)
        else:
            cql_cat_q1 = torch.cat([cql_q1_rand, q1_pred.unsqueeze(1), cql_q1_next_actions,
                                    cql_q1_current_actions], dim=1)
            cql_cat_q2 = torch.cat([cql_q2_rand, q2_pred.unsqueeze(1), cql_q2_next_actions,
                                    cql_q2_current_actions], dim=1)
        temp = c.temperature
        cql_qf1_ood = torch.logsumexp(cql_cat_q1 / temp, dim=1) * temp
        cql_qf2_ood = torch.logsumexp(cql_cat_q2 / temp, dim=1) * temp
        cql_qf1_diff = torch.clamp(cql_qf1_ood - q1_pred, *c.clip_diff).mean()
        cql_qf2_diff = torch.clamp(cql_qf2_ood - q2_pred, *c.clip_diff).mean()
        cql_min_qf1_loss = cql_qf1_diff * c.min_q_weight
        cql_min_qf2_loss = cql_qf2_diff * c.min_q_weight
        qf_loss = qf1_loss + qf2_loss + cql_min_qf1_loss + cql_min_qf2_loss
        self.step(alpha_loss, policy_loss, qf_loss)
        return {"policy_loss": policy_loss.detach(), "qf_loss": qf_loss.detach()}


class _Classifiers:
    """The d_sa / d_sas pair of DARC and H2O, with the authors' two optimisers and two backwards."""

    def __init__(self, c: dict, obs_dim: int, act_dim: int, generator: torch.Generator, device: str):
        hidden, bound = tuple(c.hidden), c.classifier_logit_bound
        self.d_sa = Classifier(obs_dim + act_dim, hidden, bound).to(device)
        self.d_sas = Classifier(2 * obs_dim + act_dim, hidden, bound).to(device)
        self.d_sa_optimizer = torch.optim.Adam(self.d_sa.parameters(), c.classifier_lr)
        self.d_sas_optimizer = torch.optim.Adam(self.d_sas.parameters(), c.classifier_lr)
        self.noise_std, self.generator = c.classifier_noise_std, generator

    def noisy(self, x):
        return x + self.noise_std * torch.randn(x.shape, generator=self.generator, device=x.device)

    def train(self, real: Batch, sim: Batch) -> None:
        keys = ("observations", "actions", "next_observations")
        real_s, real_a, real_s2 = (self.noisy(real[k]) for k in keys)
        sim_s, sim_a, sim_s2 = (self.noisy(sim[k]) for k in keys)
        real_sa_logits = self.d_sa(torch.cat([real_s, real_a], 1))
        real_sa_prob = F.softmax(real_sa_logits, dim=1)
        sim_sa_logits = self.d_sa(torch.cat([sim_s, sim_a], 1))
        sim_sa_prob = F.softmax(sim_sa_logits, dim=1)
        real_adv_logits = self.d_sas(torch.cat([real_s, real_a, real_s2], 1))
        real_sas_prob = F.softmax(real_adv_logits + real_sa_logits, dim=1)
        sim_adv_logits = self.d_sas(torch.cat([sim_s, sim_a, sim_s2], 1))
        sim_sas_prob = F.softmax(sim_adv_logits + sim_sa_logits, dim=1)
        dsa_loss = (-torch.log(real_sa_prob[:, 0]) - torch.log(sim_sa_prob[:, 1])).mean()
        dsas_loss = (-torch.log(real_sas_prob[:, 0]) - torch.log(sim_sas_prob[:, 1])).mean()
        self.d_sa_optimizer.zero_grad()
        dsa_loss.backward(retain_graph=True)
        self.d_sas_optimizer.zero_grad()
        dsas_loss.backward()
        self.d_sa_optimizer.step()
        self.d_sas_optimizer.step()

    def log_ratio(self, s, a, s2) -> torch.Tensor:
        """log P_real(s'|s,a) / P_sim(s'|s,a), with autograd on (the authors' code)."""
        sa_logits = self.d_sa(torch.cat([s, a], -1))
        sas_logits = self.d_sas(torch.cat([s, a, s2], -1)) + sa_logits
        sa_prob, sas_prob = F.log_softmax(sa_logits, dim=-1), F.log_softmax(sas_logits, dim=-1)
        return (sas_prob[..., 0] - sas_prob[..., 1]) - (sa_prob[..., 0] - sa_prob[..., 1])


class ReferenceDARC(ReferenceSAC):
    """H2Oplus's DarcSAC.train: the classifiers step, then SAC on the corrected sim reward."""

    def __init__(self, config, obs_dim, act_dim, seed, device="cpu"):
        super().__init__(config, obs_dim, act_dim, seed, device)
        self.classifiers = _Classifiers(self.c, obs_dim, act_dim, self.generator, device)

    def batch_sizes(self):
        c = self.c
        return {"real": c.classifier_batch_size, "sim": c.batch_size + c.classifier_batch_size}

    def train(self, real, sim):
        b = self.c.batch_size
        sim_q, sim_d = _take(sim, 0, b), _take(sim, b, len(sim["rewards"]))
        self.classifiers.train(real, sim_d)
        clip = self.c.reward_correction_clip
        with torch.no_grad():
            log_ratio = self.classifiers.log_ratio(sim_q["observations"], sim_q["actions"],
                                                      sim_q["next_observations"])
        rewards = sim_q["rewards"] + torch.clamp(log_ratio, -clip, clip)
        return self.sac_train(sim_q, sim_q["observations"], rewards)


class ReferenceH2O(ReferenceSAC):
    """The authors' Sim2realSAC.train (H2Oplus copy, which applies the updates under every switch)."""

    def __init__(self, config, obs_dim, act_dim, seed, noise_factor: np.ndarray, device="cpu"):
        super().__init__(config, obs_dim, act_dim, seed, device)
        self.classifiers = _Classifiers(self.c, obs_dim, act_dim, self.generator, device)
        self.next_state_generator = _stream(seed, "h2o/next-states", device)
        self.noise_factor = torch.as_tensor(noise_factor, dtype=torch.float32, device=device)

    def batch_sizes(self):
        c = self.c
        return {"real": c.real_batch_size + c.classifier_batch_size,
                "sim": c.sim_batch_size + c.classifier_batch_size}

    def kl_sim_divergence(self, s, a, s2) -> torch.Tensor:
        n = self.c.n_next_state_samples
        s = s.repeat_interleave(n, dim=0)
        a = a.repeat_interleave(n, dim=0)
        s2 = s2.repeat_interleave(n, dim=0)
        eps = torch.randn(s2.shape, generator=self.next_state_generator, device=s2.device)
        s2 = s2 + eps @ self.noise_factor.T
        log_ratio = -self.classifiers.log_ratio(s, a, s2).reshape(-1, n)
        return torch.clamp(log_ratio.mean(dim=1), *self.c.u_clip)

    def train(self, real, sim):
        c = self.c
        br, bs = c.real_batch_size, c.sim_batch_size
        real_q, real_d = _take(real, 0, br), _take(real, br, len(real["rewards"]))
        sim_q, sim_d = _take(sim, 0, bs), _take(sim, bs, len(sim["rewards"]))
        self.classifiers.train(real_d, sim_d)

        with torch.no_grad():
            real_log_ratio = self.classifiers.log_ratio(sim_q["observations"], sim_q["actions"],
                                                           sim_q["next_observations"])
        if c.dynamics_ratio_weight:
            sqrt_is_ratio = torch.clamp(real_log_ratio.exp(), *c.dynamics_ratio_clip).sqrt()
        else:
            sqrt_is_ratio = torch.ones_like(real_log_ratio)
        real_target = self.td_target(real_q, real_q["rewards"])
        sim_target = self.td_target(sim_q, sim_q["rewards"])
        df_observations = torch.cat([real_q["observations"], sim_q["observations"]], dim=0)
        new_actions, log_pi = self.policy(df_observations, self.generator)
        alpha = self.alpha()
        alpha_loss = self.alpha_loss(log_pi)
        policy_loss = self.policy_loss(df_observations, alpha, new_actions, log_pi)

        real_q1_pred = self.qf1(real_q["observations"], real_q["actions"])
        real_q2_pred = self.qf2(real_q["observations"], real_q["actions"])
        sim_q1_pred = self.qf1(sim_q["observations"], sim_q["actions"])
        sim_q2_pred = self.qf2(sim_q["observations"], sim_q["actions"])
        scale = c.bellman_scale
        qf1_loss = scale * (F.mse_loss(real_q1_pred, real_target)
                            + F.mse_loss(sqrt_is_ratio * sim_q1_pred, sqrt_is_ratio * sim_target))
        qf2_loss = scale * (F.mse_loss(real_q2_pred, real_target)
                            + F.mse_loss(sqrt_is_ratio * sim_q2_pred, sqrt_is_ratio * sim_target))
        if c.value_regulariser:
            if c.adaptive_omega:
                with torch.no_grad():
                    u_sa = self.kl_sim_divergence(sim_q["observations"], sim_q["actions"],
                                                  sim_q["next_observations"])
            else:
                u_sa = torch.ones_like(sim_q["rewards"])
            omega = u_sa / u_sa.sum()
            temp = c.log_sum_exp_temperature
            # the authors run the critics on the sim (s, a) a second time here; the result is the
            # same tensor, so the reference reuses it rather than count redundant work
            cql_q1, cql_q2 = sim_q1_pred, sim_q2_pred
            if c.regulariser == "log_sum_exp":
                cql_qf1_gap = torch.logsumexp(cql_q1 / temp + omega.log(), dim=0) * temp
                cql_qf2_gap = torch.logsumexp(cql_q2 / temp + omega.log(), dim=0) * temp
            else:
                cql_qf1_gap, cql_qf2_gap = (omega * cql_q1).sum(), (omega * cql_q2).sum()
            cql_qf1_diff = torch.clamp(cql_qf1_gap - real_q1_pred.mean(), *c.regulariser_clip)
            cql_qf2_diff = torch.clamp(cql_qf2_gap - real_q2_pred.mean(), *c.regulariser_clip)
            qf_loss = qf1_loss + qf2_loss + c.beta * cql_qf1_diff + c.beta * cql_qf2_diff
        else:
            qf_loss = qf1_loss + qf2_loss
        self.step(alpha_loss, policy_loss, qf_loss)
        return {"policy_loss": policy_loss.detach(), "qf_loss": qf_loss.detach()}


class GaussianPolicy(nn.Module):
    """IQL's policy: N(tanh(mu(s)), sigma) with a state-independent log sigma, as a torch distribution."""

    def __init__(self, obs_dim: int, act_dim: int, hidden, log_std_init: float, log_std_bounds):
        super().__init__()
        self.base_network = fully_connected(obs_dim, act_dim, hidden)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))
        self.log_std_bounds = tuple(log_std_bounds)

    def log_prob(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        mean = torch.tanh(self.base_network(observations))
        std = torch.clamp(self.log_std, *self.log_std_bounds).exp()
        return torch.distributions.Normal(mean, std).log_prob(actions).sum(-1)


class ReferenceIQL:
    """IQL as the authors' learner does it, in PyTorch: three networks, three Adams, the actor's with a
    cosine LambdaLR; the value step, then the actor and the critic with the new V, then the target."""

    def __init__(self, config: Any, obs_dim: int, act_dim: int, seed: int, device: str = "cpu"):
        self.c = c = config
        if c.reward_scale is None:
            raise ValueError("the IQL reference needs a numeric reward_scale")
        hidden = tuple(c.hidden)
        self.policy = GaussianPolicy(obs_dim, act_dim, hidden, c.policy_log_std_init,
                                     c.policy_log_std_bounds).to(device)
        self.qf1 = FullyConnectedQFunction(obs_dim, act_dim, hidden).to(device)
        self.qf2 = FullyConnectedQFunction(obs_dim, act_dim, hidden).to(device)
        self.target_qf1, self.target_qf2 = copy.deepcopy(self.qf1), copy.deepcopy(self.qf2)
        self.vf = fully_connected(obs_dim, 1, hidden).to(device)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), c.policy_lr)
        self.qf_optimizer = torch.optim.Adam(list(self.qf1.parameters()) + list(self.qf2.parameters()), c.qf_lr)
        self.vf_optimizer = torch.optim.Adam(self.vf.parameters(), c.value_lr)
        decay = c.actor_lr_decay_steps
        cosine = c.actor_lr_schedule == "cosine"
        self.policy_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.policy_optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, decay) / decay)) if cosine else 1.0)
        self.total_steps = 0

    def batch_sizes(self) -> dict[str, int]:
        return {"real": self.c.batch_size}

    def prepare_rows(self, rows: np.ndarray) -> np.ndarray:
        return rows

    def train(self, real: Batch | None, sim: Batch | None) -> dict[str, float]:
        c, batch = self.c, real
        observations, actions = batch["observations"], batch["actions"]
        with torch.no_grad():
            target_q = torch.min(self.target_qf1(observations, actions), self.target_qf2(observations, actions))
        v = self.vf(observations).squeeze(-1)
        diff = target_q - v
        weight = torch.where(diff > 0, c.expectile, 1 - c.expectile)
        value_loss = (weight * diff ** 2).mean()
        self.vf_optimizer.zero_grad()
        value_loss.backward()
        self.vf_optimizer.step()

        with torch.no_grad():
            exp_a = torch.exp((target_q - self.vf(observations).squeeze(-1)) * c.advantage_beta)
            exp_a = torch.clamp(exp_a, max=c.max_weight)
        policy_loss = -(exp_a * self.policy.log_prob(observations, actions)).mean()
        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        self.policy_optimizer.step()
        self.policy_scheduler.step()

        with torch.no_grad():
            next_v = self.vf(batch["next_observations"]).squeeze(-1)
            td_target = c.reward_scale * batch["rewards"] + (1.0 - batch["dones"]) * c.discount * next_v
        qf_loss = (F.mse_loss(self.qf1(observations, actions), td_target)
                   + F.mse_loss(self.qf2(observations, actions), td_target))
        self.qf_optimizer.zero_grad()
        qf_loss.backward()
        self.qf_optimizer.step()
        self.total_steps += 1
        if self.total_steps % c.target_update_period == 0:
            soft_target_update(self.qf1, self.target_qf1, c.soft_target_update_rate)
            soft_target_update(self.qf2, self.target_qf2, c.soft_target_update_rate)
        return {"value_loss": value_loss.detach(), "policy_loss": policy_loss.detach(), "qf_loss": qf_loss.detach()}

    @torch.no_grad()
    def copy_from(self, agent) -> None:
        _copy_mlp(agent.policy.trunk, 0, self.policy.base_network)
        self.policy.log_std.copy_(agent.policy.log_std[0, 0])
        _copy_mlp(agent.value.net, 0, self.vf)
        for j, (qf, target) in enumerate(((self.qf1, self.target_qf1), (self.qf2, self.target_qf2))):
            _copy_mlp(agent.critic.net, j, qf.network)
            _copy_mlp(agent.target_critic.net, j, target.network)


class ReferenceTD3BC:
    """The authors' TD3_BC.py, with two separate Q networks as every reference here has: states
    normalised once, in the data (`prepare_rows`), as the authors' replay buffer does."""

    def __init__(self, config: Any, obs_dim: int, act_dim: int, seed: int, device: str = "cpu",
                 obs_mean: np.ndarray | None = None, obs_std: np.ndarray | None = None):
        self.c = c = config
        self.obs_dim, self.act_dim, self.device = obs_dim, act_dim, device
        hidden = tuple(c.hidden)
        self.generator = _stream(seed, "agent", device)
        self.actor = fully_connected(obs_dim, act_dim, hidden, small_output=False).to(device)
        self.qf1 = FullyConnectedQFunction(obs_dim, act_dim, hidden).to(device)
        self.qf2 = FullyConnectedQFunction(obs_dim, act_dim, hidden).to(device)
        for qf in (self.qf1, self.qf2):
            qf.network[-1].reset_parameters()  # nn.Linear's default, as the authors' critic
        self.actor_target = copy.deepcopy(self.actor)
        self.target_qf1, self.target_qf2 = copy.deepcopy(self.qf1), copy.deepcopy(self.qf2)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=c.policy_lr)
        self.critic_optimizer = torch.optim.Adam(list(self.qf1.parameters()) + list(self.qf2.parameters()),
                                                 lr=c.qf_lr)
        self.obs_mean = np.zeros(obs_dim) if obs_mean is None else obs_mean
        self.obs_std = np.ones(obs_dim) if obs_std is None else obs_std
        self.total_it = 0

    def batch_sizes(self) -> dict[str, int]:
        return {"real": self.c.batch_size}

    def prepare_rows(self, rows: np.ndarray) -> np.ndarray:
        """The dataset's states and next states normalised once, as the authors' normalize_states."""
        rows = rows.copy()
        o, a = self.obs_dim, self.act_dim
        rows[:, :o] = (rows[:, :o] - self.obs_mean) / self.obs_std
        rows[:, o + a + 1 : 2 * o + a + 1] = (rows[:, o + a + 1 : 2 * o + a + 1] - self.obs_mean) / self.obs_std
        return rows

    def train(self, real: Batch | None, sim: Batch | None) -> dict[str, float]:
        c = self.c
        state, action, next_state = real["observations"], real["actions"], real["next_observations"]
        self.total_it += 1
        with torch.no_grad():
            noise = (torch.randn(action.shape, generator=self.generator, device=self.device)
                     * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
            next_action = (torch.tanh(self.actor_target(next_state)) + noise).clamp(-1.0, 1.0)
            target_q = torch.min(self.target_qf1(next_state, next_action), self.target_qf2(next_state, next_action))
            target_q = real["rewards"] + (1.0 - real["dones"]) * c.discount * target_q
        critic_loss = F.mse_loss(self.qf1(state, action), target_q) + F.mse_loss(self.qf2(state, action), target_q)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if self.total_it % c.policy_delay == 0:
            pi = torch.tanh(self.actor(state))
            q = self.qf1(state, pi)
            lmbda = c.alpha / q.abs().mean().detach()
            actor_loss = -lmbda * q.mean() + F.mse_loss(pi, action)
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            soft_target_update(self.qf1, self.target_qf1, c.soft_target_update_rate)
            soft_target_update(self.qf2, self.target_qf2, c.soft_target_update_rate)
            soft_target_update(self.actor, self.actor_target, c.soft_target_update_rate)
        return {"critic_loss": critic_loss.detach()}

    @torch.no_grad()
    def copy_from(self, agent) -> None:
        self.generator.set_state(agent.rng.generators[0].get_state())
        _copy_mlp(agent.policy.trunk, 0, self.actor)
        _copy_mlp(agent.target_policy.trunk, 0, self.actor_target)
        for j, (qf, target) in enumerate(((self.qf1, self.target_qf1), (self.qf2, self.target_qf2))):
            _copy_mlp(agent.critic.net, j, qf.network)
            _copy_mlp(agent.target_critic.net, j, target.network)


class Encoder(nn.Module):
    """PAR's encoders as the authors write them: ELU MLPs, AvgL1Norm on z_s."""

    def __init__(self, obs_dim: int, act_dim: int, hidden, z_dim: int):
        super().__init__()

        def elu_mlp(in_dim: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            d = in_dim
            for h in hidden:
                layers += [nn.Linear(d, h), nn.ELU()]
                d = h
            return nn.Sequential(*layers, nn.Linear(d, z_dim))

        self.zs_network, self.zsa_network = elu_mlp(obs_dim), elu_mlp(z_dim + act_dim)

    def zs(self, state: torch.Tensor) -> torch.Tensor:
        zs = self.zs_network(state)
        return zs / zs.abs().mean(-1, keepdim=True).clamp(min=1e-8)

    def zsa(self, zs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.zsa_network(torch.cat([zs, action], 1))


class ReferencePAR(ReferenceSAC):
    """The authors' online PAR.train (algo/PAR.py), the target buffer being the real dataset, on
    SimpleSAC's policy and critics as gapbench's PAR uses them."""

    def __init__(self, config, obs_dim, act_dim, seed, device="cpu"):
        super().__init__(config, obs_dim, act_dim, seed, device)
        c = self.c
        self.encoder = Encoder(obs_dim, act_dim, tuple(c.encoder_hidden), c.encoder_dim).to(device)
        self.encoder_target = copy.deepcopy(self.encoder)
        self.encoder_optimizer = torch.optim.Adam(self.encoder.parameters(), lr=c.encoder_lr)
        self.total_it = 0

    def batch_sizes(self):
        c = self.c
        return {"real": c.real_batch_size + c.encoder_batch_size, "sim": c.sim_batch_size}

    def train(self, real, sim):
        c = self.c
        self.total_it += 1
        real_q, real_e = _take(real, 0, c.real_batch_size), _take(real, c.real_batch_size, len(real["rewards"]))
        if self.total_it % c.encoder_update_period == 0:
            with torch.no_grad():
                next_zs = self.encoder.zs(real_e["next_observations"])
            pred_zs = self.encoder.zsa(self.encoder.zs(real_e["observations"]), real_e["actions"])
            encoder_loss = F.mse_loss(pred_zs, next_zs)
            self.encoder_optimizer.zero_grad()
            encoder_loss.backward()
            self.encoder_optimizer.step()
        with torch.no_grad():
            next_src_zs = self.encoder_target.zs(sim["next_observations"])
            pred_src_zs = self.encoder_target.zsa(self.encoder_target.zs(sim["observations"]), sim["actions"])
            distance = ((pred_src_zs - next_src_zs) ** 2).mean(dim=-1)
        batch = {k: torch.cat([sim[k], real_q[k]], 0) for k in sim}
        rewards = torch.cat([sim["rewards"] - c.penalty_beta * distance, real_q["rewards"]], 0)
        q_target = self.td_target(batch, rewards)
        qf_loss = (F.mse_loss(self.qf1(batch["observations"], batch["actions"]), q_target)
                   + F.mse_loss(self.qf2(batch["observations"], batch["actions"]), q_target))
        self.qf_optimizer.zero_grad()
        qf_loss.backward()
        self.qf_optimizer.step()
        if self.total_it % c.target_update_period == 0:
            soft_target_update(self.qf1, self.target_qf1, c.soft_target_update_rate)
            soft_target_update(self.qf2, self.target_qf2, c.soft_target_update_rate)
            soft_target_update(self.encoder, self.encoder_target, c.soft_target_update_rate)
        observations = batch["observations"]
        new_actions, log_pi = self.policy(observations, self.generator)
        alpha = self.alpha()
        policy_loss = self.policy_loss(observations, alpha, new_actions, log_pi)
        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        self.policy_optimizer.step()
        if c.use_automatic_entropy_tuning:
            alpha_loss = self.alpha_loss(log_pi)
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
        return {"policy_loss": policy_loss.detach(), "qf_loss": qf_loss.detach()}

    @torch.no_grad()
    def copy_from(self, agent) -> None:
        super().copy_from(agent)
        for mine, theirs in ((self.encoder, agent.encoder), (self.encoder_target, agent.target_encoder)):
            _copy_mlp(theirs.state, 0, mine.zs_network)
            _copy_mlp(theirs.state_action, 0, mine.zsa_network)


class ReferenceH2OPlus(ReferenceSAC):
    """The authors' H2OPLUS.train (H2Oplus `SimpleSAC/h2oplus.py`, discriminator ratio, fixed lambda):
    a separate V network and Adam; the optional AWR warm-up; the steps alpha, V, pi, Q, then the targets."""

    def __init__(self, config, obs_dim, act_dim, seed, device="cpu"):
        super().__init__(config, obs_dim, act_dim, seed, device)
        c = self.c
        self.classifiers = _Classifiers(c, obs_dim, act_dim, self.generator, device)
        self.vf = fully_connected(obs_dim, 1, tuple(c.hidden)).to(device)
        self.vf_optimizer = torch.optim.Adam(self.vf.parameters(), c.value_lr)

    def batch_sizes(self):
        c = self.c
        return {"real": c.real_batch_size + c.classifier_batch_size,
                "sim": c.sim_batch_size + c.classifier_batch_size}

    def log_prob(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """SimpleSAC's TanhGaussianPolicy.log_prob: a TransformedDistribution on actions clipped to +-(1 - 1e-6)."""
        policy = self.policy
        mean, log_std = torch.split(policy.base_network(observations), self.act_dim, dim=-1)
        log_std = torch.clamp(policy.log_std_multiplier() * log_std + policy.log_std_offset(), -20.0, 2.0)
        distribution = torch.distributions.TransformedDistribution(
            torch.distributions.Normal(mean, torch.exp(log_std)), torch.distributions.transforms.TanhTransform(cache_size=1))
        return torch.sum(distribution.log_prob(torch.clamp(actions, -1 + 1e-6, 1 - 1e-6)), dim=-1)

    def train(self, real, sim):
        c = self.c
        br, bs = c.real_batch_size, c.sim_batch_size
        real_q, real_d = _take(real, 0, br), _take(real, br, len(real["rewards"]))
        sim_q, sim_d = _take(sim, 0, bs), _take(sim, bs, len(sim["rewards"]))
        observations, actions = real_q["observations"], real_q["actions"]
        alpha_loss = None
        if self.total_steps < c.warmup_steps:  # the AWR pretraining on real data
            with torch.no_grad():
                real_q_min = torch.min(self.qf1(observations, actions), self.qf2(observations, actions))
                exp_weight = torch.exp((real_q_min - self.vf(observations).squeeze(-1)) * c.advantage_beta)
                exp_weight = torch.clamp(exp_weight, max=c.max_weight)
            policy_loss = -(exp_weight * self.log_prob(observations, actions)).mean()
            with torch.no_grad():
                real_td_target = real_q["rewards"] + (1.0 - real_q["dones"]) * c.discount * self.vf(
                    real_q["next_observations"]).squeeze(-1)
            qf_loss = (F.mse_loss(self.qf1(observations, actions), real_td_target)
                       + F.mse_loss(self.qf2(observations, actions), real_td_target))
        else:
            self.classifiers.train(real_d, sim_d)
            with torch.no_grad():
                log_ratio = self.classifiers.log_ratio(sim_q["observations"], sim_q["actions"],
                                                       sim_q["next_observations"])
            if c.dynamics_ratio_weight:
                sqrt_real_sim_ratio = torch.clamp(log_ratio.exp(), *c.dynamics_ratio_clip).sqrt()
            else:
                sqrt_real_sim_ratio = torch.ones_like(log_ratio)
            # exploration backups (entropy inside as configured), then the exploitation backups
            real_explore_td_target = self.td_target(real_q, real_q["rewards"])
            sim_explore_td_target = self.td_target(sim_q, sim_q["rewards"])
            with torch.no_grad():
                real_next_vf_pred = self.vf(real_q["next_observations"]).squeeze(-1)
                sim_next_vf_pred = self.vf(sim_q["next_observations"]).squeeze(-1)
            real_exploit_td_target = real_q["rewards"] + (1.0 - real_q["dones"]) * c.discount * real_next_vf_pred
            sim_exploit_td_target = sim_q["rewards"] + (1.0 - sim_q["dones"]) * c.discount * sim_next_vf_pred
            lam = c.exploit_coeff
            if c.real_blended_target:
                real_td_target = lam * real_exploit_td_target + (1 - lam) * real_explore_td_target
            else:
                real_td_target = real_exploit_td_target
            if c.sim_blended_target:
                sim_td_target = lam * sim_exploit_td_target + (1 - lam) * sim_explore_td_target
            else:
                sim_td_target = sim_explore_td_target
            df_observations = torch.cat([observations, sim_q["observations"]], dim=0)
            new_actions, log_pi = self.policy(df_observations, self.generator)
            alpha = self.alpha()
            alpha_loss = self.alpha_loss(log_pi)
            policy_loss = self.policy_loss(df_observations, alpha, new_actions, log_pi)
            real_q1_pred, real_q2_pred = self.qf1(observations, actions), self.qf2(observations, actions)
            sim_q1_pred = self.qf1(sim_q["observations"], sim_q["actions"])
            sim_q2_pred = self.qf2(sim_q["observations"], sim_q["actions"])
            qf_loss = (F.mse_loss(real_q1_pred, real_td_target)
                       + F.mse_loss(sqrt_real_sim_ratio * sim_q1_pred, sqrt_real_sim_ratio * sim_td_target)
                       + F.mse_loss(real_q2_pred, real_td_target)
                       + F.mse_loss(sqrt_real_sim_ratio * sim_q2_pred, sqrt_real_sim_ratio * sim_td_target))
            if c.use_automatic_entropy_tuning:
                self.alpha_optimizer.zero_grad()
                alpha_loss.backward()
                self.alpha_optimizer.step()
        # V on the real data: the authors' "quantile" weights on the squared error to the target critics' min
        with torch.no_grad():
            real_qf_target_pred = torch.min(self.target_qf1(observations, actions), self.target_qf2(observations, actions))
        real_vf_error = real_qf_target_pred - self.vf(observations).squeeze(-1)
        vf_sign = (real_vf_error < 0).float()
        vf_weight = (1 - vf_sign) * c.expectile + vf_sign * (1 - c.expectile)
        vf_loss = (vf_weight * real_vf_error ** 2).mean()
        self.vf_optimizer.zero_grad()
        vf_loss.backward()
        self.vf_optimizer.step()
        self.policy_optimizer.zero_grad()
        policy_loss.backward()
        self.policy_optimizer.step()
        self.qf_optimizer.zero_grad()
        qf_loss.backward()
        self.qf_optimizer.step()
        self.total_steps += 1
        if self.total_steps % c.target_update_period == 0:
            soft_target_update(self.qf1, self.target_qf1, c.soft_target_update_rate)
            soft_target_update(self.qf2, self.target_qf2, c.soft_target_update_rate)
        return {"policy_loss": policy_loss.detach(), "qf_loss": qf_loss.detach(), "vf_loss": vf_loss.detach()}

    @torch.no_grad()
    def copy_from(self, agent) -> None:
        super().copy_from(agent)
        _copy_mlp(agent.value.net, 0, self.vf)


class EnsembleFC(nn.Module):
    """MBPO's (and VGDF's) ensemble layer: x [E, N, in] @ W [E, in, out] + b [E, out], one bmm."""

    def __init__(self, in_features: int, out_features: int, ensemble_size: int, weight_decay: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(ensemble_size, out_features))
        self.weight_decay = weight_decay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.add(torch.bmm(x, self.weight), self.bias[:, None, :])


class EnsembleModel(nn.Module):
    """VGDF's `EnsembleModel`: Swish MLP of EnsembleFC layers, mean and soft-bounded log variance."""

    def __init__(self, in_dim: int, out_dim: int, ensemble_size: int, hidden, weight_decay, log_var_bounds, lr):
        super().__init__()
        sizes = (in_dim, *hidden, 2 * out_dim)
        self.layers = nn.ModuleList(EnsembleFC(i, o, ensemble_size, c) for i, o, c in zip(sizes[:-1], sizes[1:],
                                                                                          weight_decay))
        self.output_dim = out_dim
        self.max_logvar = nn.Parameter(torch.full((1, out_dim), float(log_var_bounds[1])), requires_grad=False)
        self.min_logvar = nn.Parameter(torch.full((1, out_dim), float(log_var_bounds[0])), requires_grad=False)
        self.register_buffer("mu", torch.zeros(in_dim))  # the authors' scaler
        self.register_buffer("std", torch.ones(in_dim))
        self.optimizer = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=lr)

    def forward(self, x: torch.Tensor, ret_log_var: bool = False):
        x = (x - self.mu) / self.std
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = x * torch.sigmoid(x)  # Swish
        mean, logvar = x[:, :, :self.output_dim], x[:, :, self.output_dim:]
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return (mean, logvar) if ret_log_var else (mean, torch.exp(logvar))

    def loss(self, mean, logvar, labels):
        inv_var = torch.exp(-logvar)
        mse_loss = torch.mean(torch.mean(torch.pow(mean - labels, 2) * inv_var, dim=-1), dim=-1)
        var_loss = torch.mean(torch.mean(logvar, dim=-1), dim=-1)
        return torch.sum(mse_loss) + torch.sum(var_loss)

    def train_step(self, loss) -> None:
        self.optimizer.zero_grad()
        loss = loss + 0.01 * torch.sum(self.max_logvar) - 0.01 * torch.sum(self.min_logvar)
        for layer in self.layers:
            loss = loss + layer.weight_decay * torch.sum(torch.square(layer.weight)) / 2.0
        loss.backward()
        self.optimizer.step()


class ReferenceVGDF(ReferenceSAC):
    """The authors' VGDF_Agent.train_model / train_ac (agent/vgdf.py) with the target buffer being the
    real dataset: one model step on the real rows set aside for it, each network its own rows; the
    value loss with the likelihood gate; every `policy_update_period` updates the policy and the
    optimistic policy, each clipped; the soft target update. The TD targets of both domains come
    from one policy call on their next states, target rows first, as gapbench draws them."""

    def __init__(self, config, obs_dim, act_dim, seed, device="cpu"):
        super().__init__(config, obs_dim, act_dim, seed, device)
        c = self.c
        self.optimistic_policy = TanhGaussianPolicy(obs_dim, act_dim, tuple(c.hidden), c.policy_log_std_multiplier,
                                                    c.policy_log_std_offset).to(device)
        self.optimistic_policy_optimizer = torch.optim.Adam(self.optimistic_policy.parameters(), c.policy_lr)
        self.dynamics = EnsembleModel(obs_dim + act_dim, obs_dim + 1, c.model_ensemble_size, tuple(c.model_hidden),
                                      tuple(c.model_weight_decay), tuple(c.model_log_var_bounds), c.model_lr).to(device)
        self.training_count = 0

    def batch_sizes(self):
        c = self.c
        return {"real": c.real_batch_size + c.model_ensemble_size * c.model_batch_size, "sim": c.sim_batch_size}

    def train_model(self, rows: Batch) -> None:
        e, b = self.c.model_ensemble_size, self.c.model_batch_size
        inputs = torch.cat([rows["observations"], rows["actions"]], -1).view(e, b, -1)
        labels = torch.cat([rows["rewards"][:, None], rows["next_observations"] - rows["observations"]], -1)
        mean, logvar = self.dynamics(inputs, ret_log_var=True)
        self.dynamics.train_step(self.dynamics.loss(mean, logvar, labels.view(e, b, -1)))

    @torch.no_grad()
    def value_expansion(self, src: Batch) -> torch.Tensor:
        e = self.c.model_ensemble_size
        inputs = torch.cat([src["observations"], src["actions"]], -1)
        mean, var = self.dynamics(inputs[None].repeat([e, 1, 1]))
        samples = mean + torch.ones_like(var) * var
        pred_r, pred_next_s = samples[:, :, 0], src["observations"] + samples[:, :, 1:]
        final_action = torch.tanh(torch.split(self.policy.base_network(pred_next_s), self.act_dim, -1)[0])
        final_value = torch.min(self.target_qf1(pred_next_s, final_action), self.target_qf2(pred_next_s, final_action))
        return pred_r + (1.0 - src["dones"]) * self.c.discount * final_value  # notdone: the sim row's own

    def train(self, real, sim):
        c = self.c
        tar, model_rows = _take(real, 0, c.real_batch_size), _take(real, c.real_batch_size, len(real["rewards"]))
        src = sim
        if self.total_steps % c.model_update_period == 0:
            self.train_model(model_rows)
        n = c.real_batch_size
        with torch.no_grad():
            next_s = torch.cat([tar["next_observations"], src["next_observations"]], 0)
            next_a, next_logp = self.policy(next_s, self.generator)
            next_q = torch.min(self.target_qf1(next_s, next_a), self.target_qf2(next_s, next_a))
            alpha = self.alpha()
            tar_value_target = tar["rewards"] + (1 - tar["dones"]) * c.discount * (next_q[:n] - alpha * next_logp[:n])
            src_value_target = src["rewards"] + (1 - src["dones"]) * c.discount * (next_q[n:] - alpha * next_logp[n:])
            src_value_target_for_compare = src["rewards"] + (1 - src["dones"]) * c.discount * next_q[n:]
            values = self.value_expansion(src)
            dist = torch.distributions.Normal(torch.mean(values, 0), torch.std(values, 0) + 1e-8)
            likelihood = torch.exp(dist.log_prob(src_value_target_for_compare))
            if self.total_steps >= c.filter_start:
                accept_gate = (likelihood > torch.quantile(likelihood, q=c.filter_quantile)).float()
            else:
                accept_gate = torch.ones_like(likelihood)
        tar_q1, tar_q2 = self.qf1(tar["observations"], tar["actions"]), self.qf2(tar["observations"], tar["actions"])
        src_q1, src_q2 = self.qf1(src["observations"], src["actions"]), self.qf2(src["observations"], src["actions"])
        loss_value = (F.mse_loss(tar_q1, tar_value_target) + F.mse_loss(tar_q2, tar_value_target)
                      + (accept_gate * (src_q1 - src_value_target) ** 2).mean()
                      + (accept_gate * (src_q2 - src_value_target) ** 2).mean())
        self.qf_optimizer.zero_grad()
        loss_value.backward()
        nn.utils.clip_grad_norm_(list(self.qf1.parameters()) + list(self.qf2.parameters()), c.grad_clip_norm)
        self.qf_optimizer.step()
        if self.training_count % c.policy_update_period == 0:
            s = torch.cat([src["observations"], tar["observations"]], 0)
            for policy, optimizer, pick in ((self.policy, self.policy_optimizer, torch.min),
                                            (self.optimistic_policy, self.optimistic_policy_optimizer, torch.max)):
                a, logp = policy(s, self.generator)
                loss = (-pick(self.qf1(s, a), self.qf2(s, a)) + alpha * logp).mean()
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), c.grad_clip_norm)
                optimizer.step()
        self.training_count += 1
        self.total_steps += 1
        if self.total_steps % c.target_update_period == 0:
            soft_target_update(self.qf1, self.target_qf1, c.soft_target_update_rate)
            soft_target_update(self.qf2, self.target_qf2, c.soft_target_update_rate)
        return {"loss_value": loss_value.detach()}

    @torch.no_grad()
    def copy_from(self, agent) -> None:
        super().copy_from(agent)
        _copy_mlp(agent.optimistic_policy.trunk, 0, self.optimistic_policy.base_network)
        self.optimistic_policy.log_std_multiplier.constant.copy_(agent.optimistic_policy.log_std_multiplier[0, 0, 0])
        self.optimistic_policy.log_std_offset.constant.copy_(agent.optimistic_policy.log_std_offset[0, 0, 0])
        e = self.c.model_ensemble_size
        for mine, theirs in zip(self.dynamics.layers, agent.dynamics.net.layers, strict=True):
            mine.weight.copy_(theirs.weight[:e])
            mine.bias.copy_(theirs.bias[:e, 0])
        self.dynamics.mu.copy_(agent.dynamics.input_mean)
        self.dynamics.std.copy_(agent.dynamics.input_std)


def make_reference(name: str, config: Any, obs_dim: int, act_dim: int, seed: int,
                   noise_factor: np.ndarray | None = None, device: str = "cpu",
                   state_moments: tuple[np.ndarray, np.ndarray] | None = None):
    """The reference update for a gapbench method name and its config.

    `noise_factor` is H2O's next-state noise factor; `state_moments` the (mean, std) by which
    TD3+BC normalises states."""
    if name == "sac":
        return ReferenceSAC(config, obs_dim, act_dim, seed, device)
    if name == "cql":
        return ReferenceCQL(config, obs_dim, act_dim, seed, device)
    if name == "darc":
        return ReferenceDARC(config, obs_dim, act_dim, seed, device)
    if name == "h2o":
        if noise_factor is None:
            raise ValueError("the H2O reference needs the next-state noise factor")
        return ReferenceH2O(config, obs_dim, act_dim, seed, noise_factor, device)
    if name == "iql":
        return ReferenceIQL(config, obs_dim, act_dim, seed, device)
    if name == "par":
        return ReferencePAR(config, obs_dim, act_dim, seed, device)
    if name == "h2o+":
        return ReferenceH2OPlus(config, obs_dim, act_dim, seed, device)
    if name == "vgdf":
        return ReferenceVGDF(config, obs_dim, act_dim, seed, device)
    if name == "td3+bc":
        if state_moments is None:
            raise ValueError("the TD3+BC reference needs the dataset's state mean and std")
        return ReferenceTD3BC(config, obs_dim, act_dim, seed, device, *state_moments)
    raise ValueError(f"no plain reference for {name!r}; references exist for {', '.join(REFERENCE_METHODS)}")


REFERENCE_METHODS = ("sac", "cql", "darc", "h2o", "iql", "td3+bc", "par", "h2o+", "vgdf")
