# LarvSeg's head with the paper's / release's setting for C171 + WA150
# (Sec. 4.3, Table 6): cosine classifier over the union vocabulary,
# lambda_cls = lambda_aux = 0.1, CA-Classifier with M = 20 memory entries
# of the top K = 20 tokens, warm-up 1 (memory filled once), losses at half
# the crop size; 150 classes predicted at test (A150).
larvseg_head = dict(
    type='LarvSegHead',
    in_channels=768,
    channels=768,
    num_classes=150,
    loss_downsample=2,
    loss_cls_weight=0.1,
    loss_aux_weight=0.1,
    use_ca=True,
    memory_size=20,
    topk=20,
    warmup=1,
    loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
