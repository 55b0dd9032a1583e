# Copyright (c) mmcast contributors. All rights reserved.
"""LarvSeg's head: a cosine classifier trained jointly on masks and on
image-level labels, with the category-wise attentive (CA) classifier.

Yu et al., *LarvSeg: Exploring Image Classification Data For Large
Vocabulary Semantic Segmentation via Category-wise Attentive Classifier*
(PRCV 2024).  Details that the paper leaves open follow the authors'
release (mmseg 0.x); docs/larvseg.md lists them.
"""
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from torch import Tensor

from mmcast.models.utils.category_memory import (CategoryMemory,
                                                 profile_distance,
                                                 standardize)
from mmcast.models.utils.superpixel_ops import (resize_labels,
                                                scatter_to_pixels)
from mmcast.registry import register_model

LOSS_KEYS = ('loss_seg', 'loss_cls', 'loss_aux')


@dataclass
class TokenView:
    """The backbone's output as tokens that can be painted on pixels.

    Attributes:
        feats (Tensor): ``(B, N, C)`` token features.
        valid (Tensor): ``(B, N)`` bool, False for padding.
        superpixels (Tensor, optional): ``(B, H, W)`` labels in ``[0, N)``
            (CAST: a token per superpixel).
        grid (tuple, optional): ``(h, w)`` (a feature map: a token per
            cell).
    """
    feats: Tensor
    valid: Tensor
    superpixels: Optional[Tensor] = None
    grid: Optional[Tuple[int, int]] = None


@register_model
class LarvSegHead(BaseDecodeHead):
    """LarvSeg decode head, for CAST's superpixel tokens or a feature map.

    A token's class logits are cosine similarities between its projected
    feature and learnt class embeddings over the union vocabulary,
    standardised over the classes in play and scaled (``gamma * z +
    beta``, both learnt: the release's cosine classifier).  Logits are
    painted on the pixels: per superpixel for CAST (``out_type='raw'``
    with fusion: the hypercolumn tokens), bilinearly for a feature map
    (e.g. mmseg's ``VisionTransformer``).

    Training takes batches whose data samples carry masks
    (``gt_sem_seg``: segmentation loss) and/or image-level labels
    (``gt_image_labels``, union ids):

    - ``L_cls``: per image and per present class ``c``, cross-entropy of
      the logits averaged over the image's pixels, with the image's other
      present classes left out of the softmax;
    - ``L_aux`` (CA-Classifier, ``use_ca``): the same with the logits
      weighted by the attention map ``A = sigmoid(norm(S_fg - S_bg))`` of
      class ``c`` before pooling, ``S`` the memory scores of
      :class:`~mmcast.models.utils.CategoryMemory`; used once ``c``'s
      memory is warm.  Background classes are the image's other present
      classes; for a single-label image, the classes whose top-``bg_topk``
      token scores average above ``bg_thresh`` and whose score maps differ
      from the foreground's (profile distance above
      ``bg_profile_thresh``).  After the losses, every (image, class) pair
      writes the mean of its ``topk`` best-scoring unit features to the
      memory (all-gathered across ranks).

    Losses are computed at ``1 / loss_downsample`` of the input size and
    per source (data sample metainfo ``source``), each source with its own
    weights; the batch's loss is the mean over its sources.  With
    ``vocab='source'`` (the release) a sample's softmax spans only its
    source's classes (metainfo ``source_classes``, set by
    :class:`~mmcast.datasets.MultiSourceSegDataset`); with ``'union'`` all
    of them.

    Args:
        in_channels (int): width of the backbone's tokens.
        channels (int): width of the classifier's feature space.
        num_classes (int): classes predicted at test time.
        vocab_size (int, optional): size of the union vocabulary (training
            labels); ``num_classes`` by default.
        test_indices (Sequence[int], optional): the union ids predicted at
            test time, in the evaluation dataset's order; ``range(
            num_classes)`` by default (union vocabularies list the
            evaluation classes first).
        loss_downsample (int): losses at this fraction of the input size.
            Defaults to 2 (the release).
        vocab (str): ``'source'`` or ``'union'`` (see above).
        loss_seg_weight (float): weight of the mask loss. Defaults to 1.
        loss_cls_weight (float): lambda_cls. Defaults to 0.1 (the paper).
        loss_aux_weight (float): lambda_aux. Defaults to 0.1 (the paper).
        source_loss_weights (dict, optional): per source name, overrides of
            ``loss_seg``/``loss_cls``/``loss_aux`` weights, e.g.
            ``dict(i124=dict(loss_cls=0.2))``.
        use_ca (bool): the CA-Classifier (False: the paper's baseline).
        memory_size (int): M. Defaults to 20.
        topk (int): K. Defaults to 20.
        warmup (int): memory fills before a class's L_aux starts.
            Defaults to 1.
        bg_topk (int): tokens averaged to find background classes of
            single-label images. Defaults to 5.
        bg_thresh (float): their score threshold. Defaults to 0.2.
        bg_profile_thresh (float): their profile-distance threshold.
            Defaults to 1.0.
        tau (float): temperature of the attentive pooling. Defaults to 1.
        **kwargs: :class:`BaseDecodeHead` options (``in_index``,
            ``loss_decode`` for the mask loss, ``ignore_index``...).
    """

    def __init__(self,
                 in_channels: int,
                 channels: int,
                 num_classes: int,
                 vocab_size: Optional[int] = None,
                 test_indices: Optional[Sequence[int]] = None,
                 loss_downsample: int = 2,
                 vocab: str = 'source',
                 loss_seg_weight: float = 1.0,
                 loss_cls_weight: float = 0.1,
                 loss_aux_weight: float = 0.1,
                 source_loss_weights: Optional[Dict[str, dict]] = None,
                 use_ca: bool = True,
                 memory_size: int = 20,
                 topk: int = 20,
                 warmup: int = 1,
                 bg_topk: int = 5,
                 bg_thresh: float = 0.2,
                 bg_profile_thresh: float = 1.0,
                 tau: float = 1.0,
                 **kwargs):
        kwargs.setdefault('dropout_ratio', 0.)
        super().__init__(in_channels=in_channels, channels=channels,
                         num_classes=num_classes, **kwargs)
        vocab_size = vocab_size or num_classes
        test_indices = list(range(num_classes)) if test_indices is None \
            else list(test_indices)
        if len(test_indices) != num_classes or not all(
                0 <= i < vocab_size for i in test_indices):
            raise ValueError(
                f'test_indices must be {num_classes} ids in [0, '
                f'{vocab_size}), got {len(test_indices)} ids')
        if vocab not in ('source', 'union'):
            raise ValueError(f"vocab must be 'source' or 'union', got "
                             f'{vocab!r}')
        self.vocab_size = vocab_size
        self.register_buffer('test_indices', torch.tensor(test_indices),
                             persistent=False)
        self.loss_downsample = loss_downsample
        self.vocab = vocab
        self.loss_weights = dict(loss_seg=loss_seg_weight,
                                 loss_cls=loss_cls_weight,
                                 loss_aux=loss_aux_weight)
        self.source_loss_weights = source_loss_weights or {}
        for name, weights in self.source_loss_weights.items():
            unknown = set(weights) - set(LOSS_KEYS)
            if unknown:
                raise ValueError(f'source_loss_weights[{name!r}] has '
                                 f'unknown keys {sorted(unknown)}; use '
                                 f'{LOSS_KEYS}')
        self.use_ca = use_ca
        self.bg_topk, self.bg_thresh = bg_topk, bg_thresh
        self.bg_profile_thresh, self.tau = bg_profile_thresh, tau
        # The cosine classifier (conv_seg is not used).
        self.conv_seg = nn.Identity()
        self.proj = nn.Linear(in_channels, channels, bias=False)
        self.class_embed = nn.Parameter(torch.zeros(vocab_size, channels))
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.trunc_normal_(self.class_embed, std=0.02)
        self.gamma = nn.Parameter(torch.ones([]))
        self.beta = nn.Parameter(torch.zeros([]))
        self.memory = CategoryMemory(vocab_size, channels, memory_size,
                                     topk, warmup) if use_ca else None

    # ------------------------------------------------------------ tokens
    def tokens(self, inputs: Union[dict, tuple, list]) -> TokenView:
        """The backbone's output as a :class:`TokenView`."""
        out = inputs[0] if isinstance(inputs, (tuple, list)) and \
            isinstance(inputs[0], dict) else inputs
        if isinstance(out, dict):
            if 'fused_tokens' not in out:
                raise ValueError(
                    'LarvSegHead on CAST needs the fused superpixel tokens: '
                    "build the backbone with with_fusion=True and "
                    "out_type='raw'")
            return TokenView(out['fused_tokens'], ~out['stages'][0]['mask'],
                             superpixels=out['superpixels'])
        x = self._transform_inputs(inputs)
        if x.dim() != 4:
            raise ValueError('LarvSegHead takes a (B, C, h, w) feature map or '
                             f'CAST raw output, got shape {tuple(x.shape)}')
        B, _, h, w = x.shape
        return TokenView(x.flatten(2).transpose(1, 2),
                         x.new_ones(B, h * w, dtype=torch.bool), grid=(h, w))

    def paint(self, view: TokenView, values: Tensor,
              size: Tuple[int, int], index: Optional[Tensor] = None
              ) -> Tensor:
        """Paint per-token values ``(B', N, D)`` on a ``size`` pixel grid.

        ``index`` picks the image of each row (default: row b = image b).
        Returns ``(B', D, *size)``.
        """
        if view.superpixels is not None:
            labels = view.superpixels if index is None else \
                view.superpixels[index]
            return scatter_to_pixels(values, resize_labels(labels, size))
        B, N, D = values.shape
        grid = values.transpose(1, 2).reshape(B, D, *view.grid)
        return resize(grid, size, mode='bilinear',
                      align_corners=self.align_corners)

    @staticmethod
    def input_size(view: TokenView, metas: List[dict]) -> Tuple[int, int]:
        """The (padded) input size of the batch."""
        if view.superpixels is not None:
            return tuple(view.superpixels.shape[-2:])
        meta = metas[0]
        if 'padding_size' in meta:  # set by the preprocessor in training
            (h, w), pad = meta['img_shape'][:2], meta['padding_size']
            return int(h) + int(pad[3]), int(w) + int(pad[1])
        return tuple(meta.get('pad_shape', meta['img_shape'])[:2])

    def valid_masks(self, view: TokenView, metas: List[dict],
                    size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """Valid tokens ``(B, N)`` and valid pixels ``(B, *size)`` (False
        on padding)."""
        if view.superpixels is not None:
            return view.valid, resize_labels(view.superpixels, size) >= 0
        H, W = self.input_size(view, metas)
        device = view.feats.device
        tokens, pixels = [], []
        for meta in metas:
            h, w = meta['img_shape'][:2]
            for out, grid in ((tokens, view.grid), (pixels, size)):
                rows = torch.arange(grid[0], device=device) < \
                    -(-h * grid[0] // H)
                cols = torch.arange(grid[1], device=device) < \
                    -(-w * grid[1] // W)
                out.append(rows[:, None] & cols[None])
        return (torch.stack(tokens).flatten(1) & view.valid,
                torch.stack(pixels))

    # -------------------------------------------------------- classifier
    def cosine(self, view: TokenView) -> Tuple[Tensor, Tensor]:
        """Unit projected features ``(B, N, D)`` and their cosine
        similarity to every class ``(B, N, vocab_size)``."""
        feats = F.normalize(self.proj(view.feats), dim=-1)
        return feats, feats @ F.normalize(self.class_embed, dim=-1).t()

    def class_logits(self, cos: Tensor) -> Tensor:
        """The classifier's logits from cosines over the classes in play
        (last axis): standardised, then ``gamma * z + beta``."""
        return standardize(cos, cos.new_ones(1, dtype=torch.bool)) * \
            self.gamma + self.beta

    def forward(self, inputs: Union[dict, tuple, list]) -> Tensor:
        """Test-time logits ``(B, num_classes, H, W)``: at the pixels for
        CAST, at the feature map's cells otherwise (resized by
        :meth:`predict_by_feat`)."""
        view = self.tokens(inputs)
        _, cos = self.cosine(view)
        logits = self.class_logits(cos[..., self.test_indices])
        if view.superpixels is not None:
            return self.paint(view, logits, view.superpixels.shape[-2:])
        return logits.transpose(1, 2).reshape(logits.shape[0], -1,
                                              *view.grid)

    # ------------------------------------------------------------ losses
    def loss(self, inputs, batch_data_samples: list, train_cfg=None) -> dict:
        """Losses of a batch (any mix of mask and image-label samples)."""
        view = self.tokens(inputs)
        metas = [s.metainfo for s in batch_data_samples]
        H, W = self.input_size(view, metas)
        size = (H // self.loss_downsample, W // self.loss_downsample)
        valid_tok, valid_pix = self.valid_masks(view, metas, size)
        feats, cos = self.cosine(view)
        writes = []
        groups = OrderedDict()
        for b, sample in enumerate(batch_data_samples):
            key = (sample.metainfo.get('source', ''),
                   tuple(self.sample_vocab(sample)))
            groups.setdefault(key, []).append(b)
        # Every parameter of the classifier joins the graph even when a
        # batch has no label (DDP without find_unused_parameters).
        anchor = self.class_logits(cos).sum() * 0
        totals = {k: anchor for k in LOSS_KEYS}
        for (source, vocab), idx in groups.items():
            weights = dict(self.loss_weights,
                           **self.source_loss_weights.get(source, {}))
            losses = self.group_losses(
                view, [batch_data_samples[b] for b in idx],
                torch.tensor(idx, device=cos.device),
                torch.tensor(vocab, device=cos.device), feats, cos,
                valid_tok, valid_pix, size, writes)
            for k, v in losses.items():
                totals[k] = totals[k] + weights[k] * v / len(groups)
        if self.memory is not None:
            classes = torch.tensor([c for c, _ in writes], dtype=torch.long,
                                   device=cos.device)
            entries = torch.stack([e for _, e in writes]) if writes else \
                cos.new_zeros(0, feats.shape[-1])
            self.memory.write(classes, entries)
        return totals

    def sample_vocab(self, sample) -> List[int]:
        """Union ids in a sample's softmax."""
        if self.vocab == 'source' and 'source_classes' in sample.metainfo:
            return sorted(set(int(c) for c in
                              sample.metainfo['source_classes']))
        return list(range(self.vocab_size))

    def group_losses(self, view, samples, idx, vocab, feats, cos, valid_tok,
                     valid_pix, size, writes) -> dict:
        """Losses of the samples of one source (rows ``idx`` of the batch)
        over the union ids ``vocab``; appends memory writes."""
        lut = cos.new_full((self.vocab_size + 1, ), -1, dtype=torch.long)
        lut[vocab] = torch.arange(len(vocab), device=cos.device)
        logits = self.paint(view, self.class_logits(cos[idx][..., vocab]),
                            size, idx)  # (b, V, h, w)
        out = {}
        has_mask = ['gt_sem_seg' in s for s in samples]
        if any(has_mask):
            rows = [i for i, m in enumerate(has_mask) if m]
            out['loss_seg'] = self.seg_loss(logits[rows],
                                            [samples[i] for i in rows], lut)
        pairs = [(i, c) for i, s in enumerate(samples)
                 if 'gt_image_labels' in s
                 for c in self.check_labels(s.gt_image_labels).tolist()]
        if pairs:
            out.update(self.image_losses(
                view, samples, idx, vocab, lut, logits, feats, cos,
                valid_tok, valid_pix[idx], pairs, writes))
        return out

    def check_labels(self, labels: Tensor) -> Tensor:
        labels = torch.as_tensor(labels).long().flatten()
        if labels.numel() and (labels.min() < 0
                               or labels.max() >= self.vocab_size):
            raise ValueError(
                f'image-level label {int(labels.max())} is outside the '
                f"head's vocabulary of {self.vocab_size} classes: set "
                'decode_head.vocab_size to the union vocabulary size')
        return labels

    def seg_loss(self, logits: Tensor, samples: list, lut: Tensor) -> Tensor:
        """Mask loss (``loss_decode``) at the loss resolution."""
        labels = torch.stack([s.gt_sem_seg.data for s in samples]).long()
        labels = resize(labels.float(), logits.shape[-2:],
                        mode='nearest')[:, 0].long()
        ignore = labels == self.ignore_index
        if not ignore.all() and (labels[~ignore].max() >= self.vocab_size
                                 or labels[~ignore].min() < 0):
            raise ValueError(
                f'mask label {int(labels[~ignore].max())} is outside the '
                f"head's vocabulary of {self.vocab_size} classes: set "
                'decode_head.vocab_size to the union vocabulary size')
        mapped = lut[torch.where(ignore, self.vocab_size, labels)]
        mapped[mapped < 0] = self.ignore_index
        losses = self.loss_decode if isinstance(
            self.loss_decode, nn.ModuleList) else [self.loss_decode]
        return sum(
            loss(logits, mapped, ignore_index=self.ignore_index)
            for loss in losses)

    def image_losses(self, view, samples, idx, vocab, lut, logits, feats,
                     cos, valid_tok, valid_pix, pairs, writes) -> dict:
        """L_cls and L_aux of the (image, class) pairs of one source."""
        rows = torch.tensor([i for i, _ in pairs], device=cos.device)
        classes = [c for _, c in pairs]
        targets = lut[torch.tensor(classes, device=cos.device)]
        if (targets < 0).any():
            raise ValueError('an image-level label is not in its source\'s '
                             'classes (metainfo source_classes)')
        # Other classes present in the image leave the softmax.
        others = torch.zeros(len(pairs), len(vocab), dtype=torch.bool,
                             device=cos.device)
        for p, (i, c) in enumerate(pairs):
            for o in samples[i].gt_image_labels.tolist():
                if o != c:
                    others[p, lut[o]] = True
        area = valid_pix.flatten(1).sum(1).clamp(min=1).to(logits.dtype)
        pooled = (logits * valid_pix[:, None]).flatten(2).sum(-1) / \
            area[:, None]  # (b, V)
        out = dict(loss_cls=F.cross_entropy(
            pooled[rows].masked_fill(others, float('-inf')), targets))
        if self.memory is None:
            return out
        # CA-Classifier, with the memories as they were before this step.
        unit = feats[idx].detach()
        scores = cos[idx].detach()
        tok_valid = valid_tok[idx]
        ready = self.memory.ready(classes)
        attn, ca = [], []
        for p, ((i, c), warm) in enumerate(zip(pairs, ready)):
            if warm:
                bg = self.background(samples[i], c, vocab.tolist(), unit[i],
                                     scores[i], tok_valid[i])
                attn.append(self.memory.attention(unit[i], tok_valid[i], c,
                                                  bg))
                ca.append(p)
            writes.append((c, self.memory.entry(unit[i], scores[i, :, c],
                                                tok_valid[i])))
        if ca:
            ca_rows = rows[ca]
            maps = self.paint(view, torch.stack(attn)[..., None],
                              logits.shape[-2:], idx[ca_rows])
            weight = maps.sigmoid() * valid_pix[ca_rows][:, None]
            att_pooled = (logits[ca_rows] * weight).flatten(2).sum(-1) / \
                area[ca_rows][:, None] / self.tau
            out['loss_aux'] = F.cross_entropy(
                att_pooled.masked_fill(others[ca], float('-inf')),
                targets[ca])
        return out

    def background(self, sample, fg: int, vocab: List[int], unit: Tensor,
                   scores: Tensor, valid: Tensor) -> List[int]:
        """Background classes of class ``fg`` in one image (warm ones)."""
        present = [c for c in sample.gt_image_labels.tolist() if c != fg]
        if present:
            return [c for c, w in zip(present, self.memory.ready(present))
                    if w]
        k = min(self.bg_topk, int(valid.sum()))
        top = scores.masked_fill(~valid[:, None], float('-inf')).topk(
            k, dim=0).values.mean(0)
        cands = [c for c in vocab if c != fg and top[c] > self.bg_thresh]
        cands = [c for c, w in zip(cands, self.memory.ready(cands)) if w]
        if not cands:
            return []
        s = self.memory.scores(unit, [fg] + cands)
        far = profile_distance(s[0], s[1:], valid) > self.bg_profile_thresh
        return [c for c, f in zip(cands, far.tolist()) if f]
