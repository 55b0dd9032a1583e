# The ViT-S of CAST Table 3a's patch rows, as mmpretrain's MoCo v3 builds it
# (fixed 2-D sin-cos positions, frozen random patch projection; 384 dims,
# 12 heads, 16x16 patches):
# - vit_s: the whole ViT-S/16, the "ViT-S" row;
# - vit_s_stage1: its first 3 layers, handing on its class token and its
#   tokens before any final norm to GraphPoolNeck's stages (0, 3, 3, 2
#   blocks): the "patch + pooling" row, CAST-S's 3 + 3 + 3 + 2 blocks.
vit_s = dict(
    type='mmpretrain.MoCoV3ViT',
    arch='mocov3-small',
    img_size=224,
    patch_size=16,
    stop_grad_conv1=True)
vit_s_stage1 = dict(
    type='mmpretrain.MoCoV3ViT',
    arch=dict(embed_dims=384, num_layers=3, num_heads=12,
              feedforward_channels=1536),
    img_size=224,
    patch_size=16,
    stop_grad_conv1=True,
    out_type='raw',
    final_norm=False)
