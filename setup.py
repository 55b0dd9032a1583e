# Copyright (c) mmcast contributors. All rights reserved.
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version():
    scope = {}
    with open(osp.join(HERE, 'mmcast', 'version.py')) as f:
        exec(compile(f.read(), 'mmcast/version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(name):
    """Read ``requirements/<name>.txt`` without comments and blank lines."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


if __name__ == '__main__':
    setup(
        name='mmcast',
        version=get_version(),
        description='CAST (ICLR 2024) for MMSegmentation and MMPretrain: '
        'superpixel tokens, GraphPool and a part-whole hierarchy',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        author='mmcast contributors',
        license='Apache License 2.0',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
        include_package_data=True,
        python_requires='>=3.8',
        classifiers=[
            'Programming Language :: Python :: 3',
            'Topic :: Scientific/Engineering :: Image Recognition',
        ],
        install_requires=parse_requirements('runtime'),
        extras_require=dict(
            tests=parse_requirements('tests'),
            optional=parse_requirements('optional'),
        ),
        zip_safe=False)
