# Copyright (c) mmcast contributors. All rights reserved.
"""Outputs of mmcv's compiled CPU ops on fixed inputs, to compare two builds
of mmcv bit for bit (e.g. before and after a change of compile flags in
tools/setup_env.sh)::

    venv_a/bin/python tools/misc/mmcv_ops_outputs.py a.pt
    venv_b/bin/python tools/misc/mmcv_ops_outputs.py b.pt
    python tools/misc/mmcv_ops_outputs.py --compare a.pt b.pt

The ops cover the dispatcher files and the CPU kernels of different kinds
(boxes, RoI pooling with its gradient, deformable convolutions with their
gradient, rotated boxes, point clouds).
"""
import argparse

import torch


def box_pairs(n, size):
    """``n`` boxes (x1, y1, x2, y2) inside ``size`` x ``size``."""
    boxes = torch.rand(n, 4) * size
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def run_ops():
    from mmcv import ops
    torch.manual_seed(0)
    out = {}
    boxes, scores = box_pairs(200, 50), torch.rand(200)
    out['nms'] = ops.nms(boxes, scores, 0.5)[1]
    out['bbox_overlaps'] = ops.bbox_overlaps(boxes[:50], boxes[50:120])
    feat = torch.randn(2, 8, 32, 32, requires_grad=True)
    rois = torch.cat([torch.randint(0, 2, (30, 1)).float(), boxes[:30] / 2], 1)
    pooled = ops.roi_align(feat, rois, (7, 7), 1.0, 2, 'avg', True)
    pooled.sum().backward()
    out['roi_align'], out['roi_align_grad'] = pooled.detach(), feat.grad
    centre = (rois[:, 1:3] + rois[:, 3:5]) / 2
    size = (rois[:, 3:5] - rois[:, 1:3]).abs() + 1
    rotated = torch.cat([rois[:, :1], centre, size, torch.rand(30, 1)], 1)
    out['roi_align_rotated'] = ops.roi_align_rotated(
        feat.detach(), rotated, (7, 7), 1.0, 2, True, False)
    x = torch.randn(1, 4, 16, 16, requires_grad=True)
    for name, conv in (('deform_conv', ops.DeformConv2dPack),
                       ('modulated_deform_conv',
                        ops.ModulatedDeformConv2dPack)):
        layer = conv(4, 6, 3, padding=1)
        for p in layer.parameters():
            p.data.normal_()
        x.grad = None
        y = layer(x)
        y.sum().backward()
        out[name], out[name + '_grad'] = y.detach(), x.grad.clone()
    rboxes = torch.cat([torch.rand(60, 2) * 40, torch.rand(60, 2) * 10 + 2,
                        torch.rand(60, 1)], 1)
    out['box_iou_rotated'] = ops.box_iou_rotated(rboxes[:30], rboxes[30:])
    out['nms_rotated'] = ops.nms_rotated(rboxes, torch.rand(60), 0.3)[1]
    out['psamask'] = ops.PSAMask('collect', (5, 5))(torch.randn(1, 25, 8, 8))
    points = torch.rand(1, 300, 3) * 10
    box3d = torch.tensor([[[5., 5., 2., 4., 4., 4., 0.3]]])
    out['points_in_boxes'] = ops.points_in_boxes_cpu(points, box3d)
    voxelize = ops.Voxelization([1, 1, 1], [0, 0, 0, 10, 10, 10], 5, 100)
    out['voxelization'] = voxelize(
        torch.cat([points[0], torch.rand(300, 1)], 1))
    return out


def flat(value):
    if isinstance(value, torch.Tensor):
        return value.flatten().double()
    return torch.cat([flat(v) for v in value])


def compare(path_a, path_b):
    a, b = torch.load(path_a), torch.load(path_b)
    if a.keys() != b.keys():
        raise SystemExit(f'different ops: {sorted(a)} vs {sorted(b)}')
    same = 0
    for name in a:
        x, y = flat(a[name]), flat(b[name])
        equal = x.shape == y.shape and torch.equal(x, y)
        same += equal
        print(f'{name:28s} {x.numel():6d} values  '
              f'{"identical" if equal else "DIFFERENT"}')
    print(f'{same}/{len(a)} outputs identical')
    return same == len(a)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', nargs='?', help='file the outputs go to')
    parser.add_argument('--compare', nargs=2, metavar=('A', 'B'),
                        help='compare two saved outputs instead')
    args = parser.parse_args()
    if args.compare:
        raise SystemExit(0 if compare(*args.compare) else 1)
    if not args.out:
        parser.error('give a file for the outputs, or --compare A B')
    torch.save(run_ops(), args.out)
    print(f'saved the outputs of mmcv ops to {args.out}')


if __name__ == '__main__':
    main()
